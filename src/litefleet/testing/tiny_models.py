"""Tiny real `.tflite` models (zlib + base64), by tests/make_tiny_models.py.

Generated: do not edit. `model(name)` returns the bytes of e.g. `v1-float32`.
"""

import base64
import zlib

_MODELS = {
    "v1-float32": (
        "eNpdUk1oE1EQns2u6VZDDXSRRlJIwN5kbeoPQjG7IVYMNq3UUPBgk9CNuGhSqKn4C5VeFG9iQUTqL15UrFAQUbIp"
        "eOpJvIlFUDxq8aA5iLrOvJ1NY97m402+Nz9vvnlRAMgdGN6pQQyi0AMahCGEnAoK2oCchypiUQKoI97KAPgTK4DY"
        "hVAQq67rdrDdjUiPjowPjR3JjI7ks0O51P5ULoV5QyK3iufBFt+yXclPz1SqdrmUP1OaPm1PVYTPXqzXT3XRfoi4"
        "jbjB96HYib+uS3sBEeY7qdDVrEHcNsEGBefXpBVq9quInud7L308kX7zTOa+FL7jgD6Q0PsBVrgW5Uzou4lqrsIf"
        "17UQa+xD+R68Wq1/u3xv+VhEWg666/dM3rya/HzBqsXCj4x4r5Y8ND7nPH6fNG4l+kzY3jCevnvuFNV4/WjhjrMj"
        "9Wnfz1/z9et7vtQaSrz+8u4L53z3NefkYp+jOQeNyQXFHLTnarNB3ZQC953GB9P4ivf4jtiMtbLDmbFYeqqCmlZL"
        "lg4opZgroEZ+96RLF/M06yc0a8QSa1Au2hV/1oWW+K0cv4njo54UnbTHEFKb7gCzhsQ5aZc5jyY0Xc/Dc1RDbL9G"
        "TX1//91JfJ/WfLQ2IH5zDxcRJp/rqD+5hTkn+fUQkKd3krFK+Piq56AlL9U63hancNxh5DeSvsVqdubUYNGy/o9b"
        "aIuTeb+CPNkU4PuutPkGWOMl5IPNGh4vi/dNa4uYH/AEvdWBrCePxjn8eSvi8/6fbelRZTvGvf3AmhEvRyQkZgLi"
        "hGbRyfP9B7pasU4="
    ),
    "v1-int8": (
        "eNqFVE1oU0EQnvieyUuNaajBtpJDwBZUJCQxeEhSbWgrDSYt1NCClzTyHhhoUqmpVAUbxZPngig5aq/+4MFDrt7U"
        "gwdpRTwIQkUPOVSPXWd2J3lrQdzwZXdnZr/5TSIAULpQOBOGKERgCMIQggDKLDDxDChTaCCuegDWEEsmgAFqHUCk"
        "ECiCz0IIH5+PICZmZ+an5i7lZ2fKxalSbjJXyiFvQHJbqPdqtrVqvbyyWm9Ua075hrNyvbpclzYdxA7iLeIJooXY"
        "4Hjo7eaeELQvIlTcwR5/CHFCRumVsq4/TAF+GGTfzdeUb9PJhfmta7+3DM7L5BiTsWQiFgcYEMoX8SZiiRTJuusn"
        "xtFBnGWbIcThX+O+96Pr5U/tL8bd3fb2u6+jld31N8cvsw35zO4I8WJbiNY3IeIoTyH6UV4s5OeiE8t1rEXDsWMy"
        "5rD0FOxFTTkFWU49eo54hXjNsdcq1Xq3R4va+2P8/hC/j6gU/LRHuT56zQCa5z1a7QzmCctauDyKH6wQn035cd/o"
        "M+NhmD1/AAcpB7zEEW2OmfS3sK5kRpxxtqN4ae5s1HV7TTxNoZbibGZIl7cdHKzGTd03xfJhH6+p8bb38e5pvKev"
        "PD3XRz2qNIqrS5mKbf/Ne0q4vAU3bz+dw0Lxjmj1+Nci/cM7m9npk4NjF51nWW/Pp/JnyHkHeKz5m+YcaZvEr/vs"
        "L/off6QbeLSRfvndm/n4oJWmOyXm9vuo/H8Y5MlTy4dSuTzEP+720p+V8x1QA8G/L4vngmz6NN90v3fbHqN9TeuR"
        "xecR7k0Hcxl28xsOYCz9Gr9f6+EfkoCysQ=="
    ),
    "v2-float32": (
        "eNpdUk1oE1EQnk22aapLDRoklSgRLVqQ2FQFq9RNTKMEmqakoZeKSSRpDZgt1FQq/iCCqPe2IogoeCgiKBrQQ8lu"
        "Qaj05EHwUnLxKuqhIBTtOvN2Nl3zNh9v8r35efPNCwJA9tzQMT+EIAgB8IMPFOS8IKMNyFmoIt5IAAbisxsAf2K5"
        "EMcRMmLNNM12tnch4unhsURmNJkezqUS2dhgLBvDvIrI7cVzj8O3UtZy0zNatVwp5a6Vpq+WpzThcxLr9VJdtF8g"
        "niDm+D4Ue3HTNGnPI3x8Jy90NmsQd1CwHsHZNWkpzX5l0fP83luNy/GPr93cl8x37Av3RcK9AKtci3JGwieIaq78"
        "X9MsIn6wD+XbmVszVurPlm83pGWPuXXPyYV7Zy4tztU3Us/V7pfvBjb6b+iRT+fVb43uaG3yt3p2/K3u0Q8YidRj"
        "PT/7cGBzdN4Yy6zX0237jInAkn746339w/se/Us+q+5fcEV/HrpQH7l7NProyKI+eKpf/Y73+IXYgbVSQ8lMKD6l"
        "oabVUjEMKKWYK6BGdvekSyfzNOtXNGtEjTWoFMqaPeu8I34Px2/n+KAlRQftIYTUojvAHVXinLS7OY9faLqVh+fo"
        "VdheQk1tf/vdSXwfZz5abYg/3MNNRJTPw6g/ufk4J/kFCMjTO0kWS/j4qtfBkZdqTbTEyRw3gvw20rdQTc1cOV0o"
        "Fv+Pe9oS5+b9AfJkU4Dtu9ri62KNa8h7mjUs3i3eN63dYn7AE7RWO7KWPH7OYc9bFp/1f9bRo5ftEPe2jjW7rBxd"
        "ipgJiBOaRQfP9x9A4rOq"
    ),
    "v2-int8": (
        "eNqFVM1rU0EQn/Q906TGNGioqeQQpBQRDEkMHvJRDWnFQNJCGyr00DTwAg00qdRXqYo0Ff0P9CJ6K3oSelAQqSev"
        "guIpiqCCQkEPoUKPXWd2J3lrobjhl92dmf3NZxIGgPLl4vkgRCAMIQhCAHwo84CJZ0CZgo1YdAGsIZZMAAPU6kMk"
        "ESiCL0KIfj6fQOSnJmcnpmcKU5OV0kQ5N54r55DXJ7k9qHdrto16s7Ky2rTrjVrlRm3len25KW06iB3EO8Qm4jHi"
        "AcdDb5/uC0H7AkLF7e/xBxBnZJRuKev6wxTgl0H23XxN+TaVuDrbvrbXNjgvk2NMRBPxaAzguFC+iDcejSdJ1l2/"
        "MY4O4gLbhBDHdsfMD6Prlc+vv/Zt/HnTfv99dH5v/e3pObYhn/M7Qrz8JMTzn0LEUJ5EDKK8VCxMR/LLTayFXbOi"
        "Muag9OTvRU05+VlOPdpCvEC84tgb1Xqz26MF7f0pfn+U34dVCl7aI1wfvWYArYsurXYG8wRlLRwexQ+eAJ9N+XHe"
        "6DPjYpg9fwBHKAe8xBDbHDPpb2FdyYw4Y2xH8dLcWajr9pp4WkItxdlKk65g1XCw7Ju6b4rl4wFeU+PdPsC7r/Hm"
        "72+ODVCPqnZpdSldtax/ec8Kh7fo5O2lc1Ao3hGtHoct0mfPPcvAxlA29GMr4+75VP4MOe8AjzR/VzhH2sbx6x77"
        "i/zHH+l2kw9TrRl3+s63Jym6U2JOv4fk/8NJnjy1+lEql4v4Lzm99GbkfPvUQPDvy8NzQTYDmm+6371tZWlf03rk"
        "4fMI96aDuQw7+Q37MJZBjd+r9fAv6B+yew=="
    ),
    "v3-float32": (
        "eNpdUk1oE1EQnnS3yVZDDRi0kQir1EMPhv6oKGJ2Q6wQaFKpQW8mgU0xYFKIqSgoqBjoQfBiQUQbBOlJUGkugmY3"
        "UEQDBY9SrEdPIhFED9quM29n05i3+XiT783Pm29eGADSZ6YmgqBCGIYgCAHwI6eAjDYg56CCeOkBsBAfJQD8idWH"
        "OIKQEZ9t2/axvRsRn06dn5w5l5hOZZKT6djpWDqGef0it4Ln3i7fYqGUKc+XKoViPnM1X75SmCsJn+NYb5Tqov0M"
        "8RjxgO9DsRe3bJv2LCLAd1JgsFODuGHBegXn1qTl7/Qri54X99/8cim++kLivmS+43hkfCwyCtDiWpRzLHKUqM7K"
        "btq2gfjOPpTv3dNP1sbdWvPPRn/Ta2/fs7VVj6ZW3jeatWXNs3oiqvvumdXsMW2lrOpff7e1+69emwcu7LU2w0tm"
        "caR6qqovWsqhHw1j/aA18uut2Y4umB/sYbMmZbTZNVl/ZN9pPFmf0ENry+bD24e1b3iPNmIX1kpOJWbU+FwJNa3k"
        "jQiglGKugBq53ZMug8zTrJ/TrBF11qCYK5TcWWe74vdx/E6ODztSDNCuIjw9ugPc0jyck3aJ8wSFptt5eI6Kn+03"
        "qKnr7747D9+nOx+tfsRf7uEGQufzCOpPbgHOSX5DBOTpnSSMPD6+ynXoyku1ZnviZI47i/wO0jdXSc5fPpkzjP/j"
        "lnriJN4XkCebAlzfVo9vH2tcR97bqeHwknjftPaI+QFP0Fk+ZB15gpzDnbcsPuf/ta4eFbZV7u0n1gw5OUJ+MRMQ"
        "JzSLAZ7vP3dhuGs="
    ),
    "v3-int8": (
        "eNqFVD9ok0EUf+n3mXxpQxpqqK0EmiFQcQhJGkSSVI1txEDSQg2VOpgEvkADTSo1lapDo4izg5O4FIqzg4pgBxeH"
        "goM4RRAXEQU7BBQXS8/37l7ynQXxwi9399673/ubhACgdKEwFYQwhGAMghAAH8osMPEMKFNoIZZdABuIFRPAALUG"
        "EEkEiuCjEMLD56OImfm5xdzCpfz8XLmYK2Vns6Us8vokt4V6t2bbqDfLa+vNVr1RK9+orV2vrzalTRfxDfEWsY14"
        "jHjI8dDbJwdC0F5BqLj9ff4A4oSM0i1lPX+YAnw3yL6XrynfphKXFzvXfnUMzsvkGBPRRDwaAxgRyhfxxqPxJMl6"
        "aw/j6CJOsc0YYmTvvHc3slnuvP40cOfHq867z5NXf26+mbjCNuRz/6sQvz8Icf+LEDGUJxHDKC8W8gvhmdUm1qJV"
        "s6My5qD05O9HTTn5WU49eop4hnjJsTeq9WavRxXt/XF+P8TvQyoFL+1hro9eM4D2WZdWO4N5grIWDo/iByvAZ1N+"
        "nDf6zLgYZt8fwBHKAS8xxA7HTPpbWFcyI84Y21G8NHc26nq9Jp62UEtxttOky9s1HKzWTd03xfL+EK+p8e4c4j3Q"
        "eD1L22cGqUfVVnF9JV217b95TwqHt+Dk7aVzUCjeiFaPfy3ST7zYylQao9OTuecZd9+n8mfIeQd4pPm7yDnSNotf"
        "99hf+D/+SHe69CC1n3Wnh3a3UnSnxJx+j8r/h2M8eWp5UCqXi/jPOb30ZuR8+9RA8O/L4rkgm0HNN93v3ranad/Q"
        "emTxOcK96WIu405+4z6MZVjj92o9/ANWD7I8"
    ),
    "v4-float32": (
        "eNpdUk1oE0EUfpus6dbGGmmQViJGiJ5KaFMLipBNSCMEk1Rq8GgSSNRUs4W4kQoWPEnBi2BqBaUVEXqx2kMRQckm"
        "1FNP4kXE4kHwIiIFvQjq+t7s23TNbD5m8s37/d4EACB3Kj3mhyAEYBD84AMvcgrIeAbkLOiINQmghXjrBsCfWC7E"
        "MYSM2DJNs4fPA4jEZPZccupsajKbzyRz8Yl4Lo5xvSK2gvceh221ouVrdU2vVMv5a+Xa1cqMJmyOY74RyovnJ4iH"
        "iAbXQ77n/5om7QWEj2tSoL+Tg7iQYD2Cs3PS8nb6lUXPCwfnPl1KvHnu5r5krjESjoyGRwA2ORfFHA2PE9VZhT+m"
        "WUJ8ZxuKV5/+3JJXH7VfKlLbY+7UuXaoEL1l3G7eu/9M1Rdmo18e3zW2951QX30NxaYv/lA/1JpGcuxwa2LPkrGR"
        "PRJ9cLrRkn69aw7HQy2pb9U4urhovHg/YIzPZ9WVZVds+XKjudEejqU/rhhzdyLqN6xjG7EXc2XSqalgYkZDTfVy"
        "KQwopZgroEZ296RLP/M066dUI2KdNagWK5o964LD/wD797F/wJKil/YgQurSHeCmKnFM2t0cxy803YnDc1S8fH6N"
        "mtr29ruTuB5nPFq7EL+5hxuIGN+HUX8y83FMshskIE/vJFUq4+PTr4MjLuW60OUns98Z5HeTvkU9U79yslgq/e+3"
        "1OXn5n0eeTqTg2272WXrYo3Xkfd0cli8W7xvWvvF/IAnaK0eZC15/BzDnrcsPuv/rKNHhc9B7u0n5hyyYgx5xUxA"
        "3NAsenm+/wCBt7OR"
    ),
    "v4-int8": (
        "eNqFVM9rU0EQnpjX9KUNadCorUSIEMR6CEkMFZJUDWnFQNJiDRV7MAm8iIHmVWpSqh4axYN/QL2oR+1N8eChaE9e"
        "9ODJixXFW1FQJCh67DqzO8lbC+KGL7s7M/vNzyQEAKXThWNBCEMIhiEIAfChzAQDz4AyhSbisgtgGTFvALhBrV2I"
        "JAJF8FEI0c/nPYjc9NTs5My5/PRUuThZyk5kS1nk9UluE/UezbZRt8uLLbtZb9TKS7XFq/UFW9p0EF8QbxAPEQ8Q"
        "qxwPvV3bFoL2CkLF7e/xBxBHZJQeKev6wxTgq5vsu/ka8m0qcX5288rvTTfnZXCMiWgiHo0B7BbKF/HGo/Ekybrr"
        "G8bRQYyxzTBi8GfO9yqycvHdi0/GzV/PP7zeOlz5sfLy0BzbkM+7n4VovRfC3hIihvIkYgjlxUJ+JpxbsLEWzZoV"
        "lTEHpSd/L2rKyc9y6tFTxDPEOsfeqNbtbo8q2vsD/H6Q34dUCl7aw1wfvWYA7ZMurXZu5gnKWjg8ih/MAJ8N+XHe"
        "6DPjYhg9fwB9lANeYogNjpn017GuZEacMbajeGnuLNR1e008baGW4mynSZe3ajhYzWu6b4rl7Q5eQ+Pd2MG7rfF+"
        "H3t0YoB6VG0WW/PpqmX9zXtUOLwFJ28vnYNC8Ua0evxrkX70+FrmztLecXHwScbT86n8ueW8A9zT/J3hHGmbwK/b"
        "7C/8H3+kO3thNfW41pdev3Q/RXdKzOn3Pvn/sJ8nT61+lMrlIv5TTi+9GTnfPjUQ/PsyeS7IZkDzTfdbN6xx2pe1"
        "Hpl8jnBvOpjLiJPfiA9jGdL4vVoP/wDDB7KY"
    ),
    "v5-float32": (
        "eNpdUk1oE1EQnnTXZKOhBozSSlpyqDddtlVBVLoJsUKkSaVGEVpNAokYaDZQt2JBQW9iD16sh6Ii6sXfKBa8lGwC"
        "6qEHWynqJQq9Kah4EE/qOvN2No15m483+d78vPnmhQEgfXB4ZwgiEIYuCEEQAsgpIKMNyDkwEU89ADXEsgSAP7E6"
        "ELsQMqJh27aP7U2I+Ejq2NDokcRIKpMcSscOxNIxzBsQuRU897b4lopGZnLKMIulQuZsYfJMsWwInz1YT6O6aN9D"
        "3EBc4/tQ7Mm/tk17FhHkOynQ2axBXJ9gvYJza9IKNPuVRc+zPRc+nY6/rEjcl8x3HFAH+lUNYJFrUc5+dTdRzZX9"
        "Y9t5xHf2oXy/5j7UfHdv1z83pLrXXrvnq/Lxwbc77ldXxu7oC+MTg+nGJWv6yl7d6tsW7TG+6fqJitVbDdek5ZvW"
        "+y8P9y8dvV7zb35RXVrprb2ZeW1VPs5Y9XeapT0/pKdWpej46mx17rEWvfrsgfWktF3/ivf4gdiItZLDidFIvGyg"
        "pmYhrwJKKeYKqJHbPenSyTzN+hHNGjHPGpRyRcOddbYlfivHb+D4sCOFn/YIwtOmO8BF3cM5aZc4T0houpaH56gE"
        "2F5ATV1/9915+D6t+WitQ/zmHs4jonyuov7kFuSc5NdFQJ7eSSJfwMdnTkNLXqp1qi1O5rjDyK8nfXNmcmpiXy6f"
        "/z/uVlucxPtl5MmmANd3sc23gzWeR97brOHwknjftLaI+QFP0Fk+ZB15QpzDnbcsPuf/uZYeFbYj3NtPrNnt5OgO"
        "iJmAOKFZ+Hm+/wCJqbg0"
    ),
    "v5-int8": (
        "eNqFVD1oU1EUPs8889eQRg22lYAZMohDSGJwSNJqaCsGkhZqqKBDGngBg82rtqlUHZpKV7dOIg4qnUUUHVoXBxfp"
        "4CAtCroIBRUCQjd7Pefe8/KuBfGGL/fec879zm8SA4DqhfKZKMQhBoMQhQiEUOYHE8+AMoU24poBsISYNQE8oNYh"
        "RBaBIvgshPDx+RhidHJienzqUmlyolYZrxbHitUi8oYktx/1Xs221bRr84t2u9lq1G415heac7a06SJ2Ee8RTxEP"
        "EWscD71d3xeC9hmEijvc448gTskovVLm+MMU4LuH7J18Tfk2l7k8vX1jb9vDeZkcYyaZSSdTAEeF8kW86WQ6SzJn"
        "/cA4uoizbDOICHZH+rYSy1c/vflirOxtftz6mqj9Wn578grbkM93u0L83hFi4ZsQKZRnEf0or5RLU/HRORtr0W5Y"
        "SRlzVHoK96KmnMIspx49Q7xAvObYW/Wm7fRoRnt/gt/38fuYSiFAe5zro9cMoHPO0GrnYZ6orIXLo/jBH+GzKT/u"
        "G31mDIbZ8wdwmHLASwqxwTGT/g7WlcyIM8V2FC/NnYU6p9fE0xFqKc5OnnQlq4GD1b6t+6ZYPhzgNTXejQO8+xrv"
        "K/FkJEg9qrcri7P5umX9zXtauLxlN+8AnaNC8Sa0evxrkf7xzfXCzurA8OaR5wVvz6fy55HzDvBA83eRc6RtDL9W"
        "2V/8P/5It3J/LXc978u//PkoR3dKzO33cfn/MMCTp5YPpXIZxH/e7WWgIOc7pAaCf19+nguyCWq+6X7vrjVM+5LW"
        "Iz+fE9ybLuYy5OY3FMJY+jX+gNbDP3sStS8="
    ),
    "bad-float32": (
        "eNpdUk1oE1EQnmS36UaXGDRqqxECWi9C6J9QkHYTY5RA00oNxYOYBBIxYFKo21JBoVAUkWAvFnqQemgPEdR6KOJB"
        "slssCEWheFZvgqIUDy31oFln3s6mMW/z8Sbfm58337wgAKTOD/YEIARBaIMA+EFFTgEZbUDOho546QIwERsSAP7E"
        "ciN6ETLik2VZrWwfQMSGh0bjI5cSw0PpZDwVPRdNRTGvKnIreO5p8C0WSunxiZJeKObTk/nxm4WxkvDpw3qdVBft"
        "JcRjxCO+D8VerVkW7RmEn++kgK9eg7gTgvUIzqlJS633K4ue547d+XI9trYscV8y37E73N0V7gRY51qUsyt8mqj6"
        "yvy1rBxik30o34e5yursD+/qQuK76bF271mrvDZ2Wk6ah8uLxtr08/7Fu/Pm+6Wv1aeTx80nHaYR33holGsdxn7P"
        "Ze3oOyWy/e1edflCT8RXfmFsT/VphZ2ZgbOVB1W3WtE+9l4ZiM+Wjc9v+7VXB09F5md+az/xHr8Q+7BWcjAxEoqN"
        "lVBTPZ8LA0op5gqokdM96eJjnmb9jGaNWGENitlCyZl1piH+CMfv5figLYWX9hDC1aQ7wLTm4py0S5wnIDTdzcNz"
        "VFS236Cmjr/z7lx8n8Z8tFoQf7iH24gIn4dRf3Lzc07yayMgT+8kkcvj49NvQUNeqnWtKU7muIvI7yF9s3py4saZ"
        "bC73f9xCU5zE+33kyaYAx3e9ydfNGq8g76nXsHlJvG9ah8T8gCdor1ZkbXkCnMOZtyw++/9UQ48K2yHubQtrtts5"
        "2lUxExAnNAsvz/cf9f23UA=="
    ),
    "bad-int8": (
        "eNqFVM9rE0EUfmnWNIkhjRq1kRwiFhEPIUmDhySthqZiIGmhhhZFSAMbMNBspaZS9dAo/gd6UbwoIh6KKPSgGBA8"
        "14unICJCFQU9BCweHd+beZsdA+IsX2b2vTff+5mNAkDldGk8DDGIwiiEIQQBlHnBwDOgTKGFuOgCWEMsGQBuUGsI"
        "kUagCD4IIYb5vA8xNTszPz13tjg7Uy1PV/KFfCWPvAHJ7UW9R7NtNqzqyqrVajTr1Sv1lcuNZUva9BDfEFuIR4j7"
        "iDscD919/FsI2hcRKu5gnz+EOCaj9EiZ7Q9TgO9usrfzNeTdTGphvnvpV9fNeRkcYyqeSsYTAHuF8kW8yXgyTTJ7"
        "/cA4eogTbDOKeP/q49CNnU737fbR2s76m8OBn5P+rSPrF86zDfl82hXi4WchXn8VIoHyNGIE5eVScS42tWxhLVp1"
        "My5jDktPwX7UlFOQ5dSjZ4hNxAuOvVlrWHaPFrX7h/j+br4fVSn4aI9xffSaAbRPurTauZknLGvh8Ch+8Ib4bMjH"
        "uaPPjIth9P0B7KIc8CWB6HDMpL+GdSUz4kywHcVLc2eizu418bSFWoqznSVd0azjYLWu6r4plncDvIbG2xngtRed"
        "z20/mfRTj2qt8upStmaaf/MeFw5vycnbR+ewULxjWj3+tUi//2VkYs/zzdxtayPn6ftU/txy3gHuaf7OcI60FfDn"
        "FvuL/ccf6VzjvuynwoPMxpe7GXqnxJx+H5Dfh4M8eWoNo1SVhfhPObXy5eR8B9RA8P/Ly3NBNv6Bmt68bk7Qvqb1"
        "yMvnMe5ND3OJOPlFAhjLiMbv03r4B+lnq5c="
    ),
    "wide-float32": (
        "eNpdUk1oE1EQnk3WNNGlBrpIIxESsDdZTdVeqtmEtmKwaSWGogdJgomw2GyhbsW/Q6UXxZsoiEj9xYsKFQqiluz2"
        "JuLJm5iLxZMoeNAgRV1n3s7GmLf5eJPvzXzzZubFAaB4YHy3CgmIQz+oEAUFuTDIaANyHizEigTwFtEMAuBPrABi"
        "D0JGNF3X7WG7DzEyOTE1VjiSm5wo5ceK2dFsMYu6itAO43mow7dumKXZOdMy6rXSmdrsaWPGFD6jmG8fwkH7IeI2"
        "4jrfh2ILf1yX9jIiyncKQ287B3HbBRsSnJ+TltKuVxY1v3752coP/awEuS6Z7zioDaa0XQANzkWaKW0vUe1V/O26"
        "RxFr7EN6D141na+X7q0ej0mr68xPI9I3r6TXLlQbiegjPblNTR+aWrAfv0/rt1IDGdjR0knv6btndiWcdI6V79g7"
        "sx/3/1i/4Vwb+tRoyUnnxd3nNvmc77tqn1oasFX7oH5iUc4MGwuN+ZCWkQL37daHjND5gnf6htiMdn48V0iMzJjY"
        "X6tW1QDbKmYM2C+/E9SjXuZp7k8QS4hl7ke9Ypj+3Msd8Vs5fhPHx722RGhPIKSuGQDM6xJr0h5kHVX0958OzzSs"
        "sL2CffT9/Tco8X069WhtQPziGi4iMnyu4Tsltyhrkl8/AXl6M7lqDR+idQ46dCnXya44meMOI7+R+lux8nPTw5Vq"
        "9f+4xa64IO+XkSebAnzfN12+Ae7xMvKhdg6PJ/+IqHSLmB/wBL3Vg6zXHpU1/HnL4vP+n+2oMcJ2gmv7jjljnkZM"
        "ETMBcaK080LkL9fgsuA="
    ),
    "nan-float32": (
        "eNpdUk9o02AUf21ilmmYBYNs0kEK7iZx3VSE4dJSJxbXTWYZeLEtprKgzWBmoqg42MWzuIvIFBEvCu4wEEGaHDzt"
        "5FUUQfEo4sH1IGp878tLF/u1P76X3/f+fO/3viwAVE9Nj+tgQBYGQYcMaMipIKMNyEXwEBspgADxTgLAv1hpxBGE"
        "jPgYhmEf2/sQpdmZ+am5c+XZmVplqlo8WawWMa8mcqt4riR8W45bW1p2PafVrF1rLl11Fl3hcxzrjVJdtJ8iHiLu"
        "830o9sLfMKS9jsjwnVQY6NYg7qBgFcHFNWlp3X5l0fPa8O1PC6W3LyXuS+Y7jpljeXMUYItrUc68eZSo7qr/CUMb"
        "8Z19NMEGd2Io4c496fvLTbttZJ5ZuWF98sz8qv/8/aT1ID9SgEMdi84bai44X3/kHy5+PrH9ay24d+xruyPngteP"
        "X/l0fnljxNf909bFdbkw4ay2VxSzkEo/8TsfCtY3vMcPxF6sVJkuzxmlRRc19Zq2CSilmCugRnH3pMsA8zTrFzRr"
        "xCZr0Go4bjzreiL+AMfv4fhsJEU/7QYi1aM7wIqV4py0S5xHF5ru5OE5qhrbb1DT2D9+dym+TzIfrV2I39zDLUSB"
        "z03Un9wynJP8BgnI0zsp2018fN4NSOSlWpd64mSOO4v8btK34VWWr0w0bPv/uPWeOIn3u8iTTQGx71aPb5o13kRe"
        "6daIeEm8b1r7xfyAJxitPmQjeXTOEc9bFr/o+3qiR5Vtg3v7iTWHohxDmpgJiBOaRT/P9x+KIqtj"
    ),
    "slow-float32": (
        "eNp1V31MU1cUv4VSW1qxg4pfVVFxcYYUqahoP/hSJw6QaWd0QbFaJmVQFilap3FsEsPUbMbM6ZxzbALRzM0uUcdC"
        "X4uJOrcZs+2PqdEsbjHGmGj8QL5E3s5997z2vSe+5Jd3e9/53XvOuefj1kwIcS0unm0iacRMxhITMRIDzGmJGsYE"
        "5hhqAJfiCbkGuJtECLyEJw6QAVADjE95fiqOUwCFy0pXLlq+omhZaUXJIlf+wnxXPskGmSkSmVqvr2JTg8/vra2s"
        "2Fy5qd5b5yPTYH4VbFAGsAPSAUZAC2zWBNgO8ANqAB5AOcAFKAYsBNgB2YAMQDrADNDGMWX7VIQ8BNwF3AL8AdMh"
        "wGnASUAr4AjgM4Af9Qz38Dx9r6M2ot1akiT4SItz6cKsRpjTII8+hqhP1YJf70zXDDwsDbrj0XdqgUWI1WLNsswi"
        "ZGYv24uumWXJmkPnxGfJY54vBpQBXIBVgLdRngLMIdX4m/744TmZf+jLIu6XNl041dtoP/DOJS5hMNu+q2Ind7Hn"
        "eue2zm77R9N3cDves3GFU78IrW1v47TkT1vH1WLn8/Zmx639t0Inji1xVJ8qCJ+80RhuXXTdMef2ALfGfMQRV5ri"
        "POE5y71pSXY0GNRhfXs5l7K+jUv6oN/2+ldPudfW7eaCtgXcozMZ9mcH7eE99492rp36Vmc4Xe8MZ3Tb8r3t9qup"
        "v3MrPg1zmZ93hext8+2Nk884ArWTwkVzaxzLLzg4s+mCrfp0bufqX1Xhg6fM4UeJddxGEnRsaz8ccjaV2R/adc57"
        "lZ84CnL+sRuDhZw1fl7ozN5C+8ybexyZ055wgSc8vx3QCGgCNAN298X81TIKzhrmWgCtgOOAk4Ag4DSgAxACdAHO"
        "Ay4BLgOu4Br0PI913uy6/+E359aMU5270xeLE+ehj53/bfOE04ztuVMmmpxvrNwZ+e66M/dw1vQ8ktGT+/1fP0bc"
        "2ildq9d9HcnM/9fxdOBA1/65t8M96ildP7f8FHk/ZU/k3eD0iCmyJHfDUXWezbsz3Kix5Knivo303MjLXd4fs4Ob"
        "t2vOevytxVihsbBZIkOf5m6e3wsAs0lJcdHytMI6H+Scv9JjEfL5YQIgnsnPHOB5mv9pABMslg7IBiTC7y1V3prK"
        "ivV1nq2EAIWcB+wDlANycL+CfsaHR09j2YTzBsh/qlsixj996BorB3negHE/AvXX4ZvatP8l65Xjelpcj3KpLWtB"
        "HnNVK67bjLKijJh/PDyPX7J+CDkalFehvmq0QYN6xkv8rEJZOqcnrEbNiGM15zigCpAB6Ma6EwDYxTUhf+kSJtQh"
        "DcvsWJr/UIf0ov8z3R5PhVX4+KCHcYxo52QAlQ/AfPS8Ml1uX1XMBuqvV3vlvEnIC76wT5aMt1bBm4g94i7wRkZ5"
        "JW5/SUONlcj3vKewzyyxbwZ800n3RX9O6pNzJiCHcst7WTy7N3n9VZYNdb56v9vnz2LVuE+u53jcb1/vi3pmoZ5a"
        "RIGCOw65l3G/WA5UuDdtnC2zcYeCOxa52r7huFYZN7FfbusYia1LhuUzWwsUvFQJr3FYHmssyUOxPHfRvguoItI8"
        "B596mH4snxKFbkb7XCLWQCPmgZgboj1qRb4oc4NyaE3pg3eHIg+SB+T2jGZ0DfVlWb80rosr6+vZx8UKjknig6Z+"
        "Vl9inMytYl+1DMjPKwXPq6Nf6jfqhxfPulrBTUZu97Bc+Vn3KPR9RaJv9sBwfHbWlmdynlHCqxmWJ14ikqK3EXp+"
        "SZIcDIJSpwEdKub/WrfXR/CMPDA3iGfURP0f9W0S5BRbT4/rYT7rzBhTCYp7EURjrkpgMj/QPPTxw9fenGes9o7E"
        "mNFgvB2NyY8W5Wk8VaG8AeX1OH8lJj9BlKffD6G8Hn/roj0p5ieFXWuoTbOiZ2iI3gGlMT8Cz1eHeSTmgYpInyQ8"
        "u9geyn6VMxjrPeJ9W40+lfqQPvTM00DoMt6P6V3YBLiNPccPyANo8c7bivmWh2tan8vjeBTWrRDoQG0p8lTCJd2/"
        "lUhspTpVK3hiTHUDj+rJuoecc1TBGYnvGTBPv9c21Ag2XVTIiX4pQ7kVDbWs/ynk9KhDAOY1Yi7MlvehqUNyTiJy"
        "Tko5VjmnfUiedzrMOzq+LeWxNCV/K+S1EnnTEPOPII9neFah0wg8g7whVu9Yp7IJjVHqzwcKngbfgSHmJ0oQZcfz"
        "ctkE1K11iOnP9ojVaKpzqYKjRs41tAHOKzOANvzGy22Ol9ishW/UpkLapSEqVNF8SxX+e47BysSeEWIPi64VJ6lz"
        "Llgr6YW+L+ZWqpC/5CXriXaIPa2FZ3kWUNxVKLbjfb4McyUH/+uJNSoIXKwN5hCMF7DxgkswHsfG49RELcjehLlk"
        "Npd8F8ZL2XgpXMn5LWy8xSDUA5bphliM6f4HgUdDUg=="
    ),
}


def model(name: str) -> bytes:
    return zlib.decompress(base64.b64decode(_MODELS[name]))


def names() -> list[str]:
    return sorted(_MODELS)
