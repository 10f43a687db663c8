"""Downloads one version of a package's source distribution from PyPI's simple index (the one
pip reads), checking its SHA-256, without building anything — `pip download` of an sdist would
build its metadata first: `python3 pypi-sdist.py NAME VERSION DIR`."""

import hashlib
import re
import sys
import urllib.parse
import urllib.request

name, version, target = sys.argv[1:4]
index = f"https://pypi.org/simple/{name}/"
with urllib.request.urlopen(index, timeout=60) as answer:
    page = answer.read().decode()
filename = f"{name.replace('-', '_')}-{version}.tar.gz"
link = next(
    href for href in re.findall(r'href="([^"]+)"', page) if href.split("#")[0].endswith("/" + filename)
)
url, _, fragment = urllib.parse.urljoin(index, link).partition("#")
digest = hashlib.sha256()
with urllib.request.urlopen(url, timeout=600) as answer, open(f"{target}/{filename}", "wb") as out:
    while chunk := answer.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
expected = fragment.removeprefix("sha256=")
if expected and digest.hexdigest() != expected:
    sys.exit(f"{filename}: SHA-256 {digest.hexdigest()}, the index says {expected}")
