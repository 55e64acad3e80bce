"""The device side: LiteRT + the TUF client + numpy. Never imports TensorFlow.

A device installs `pip install litefleet[device]`; `tests/test_device_imports.py` proves this
package imports with TensorFlow blocked.
"""
