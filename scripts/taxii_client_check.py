"""Reads a running irtx gateway's TAXII 2.1 server with the OASIS taxii2-client, as a peer.

    taxii_client_check.py URL PEER TOKEN basic|token OUT_DIR PAGE_SIZE

Discovers the server, lists the collections, pages through the `shared` collection's
objects and manifest with `as_pages` and PAGE_SIZE per request, writes the objects as one
bundle to OUT_DIR/pulled.stix.json and validates it with stix2-validator (the findings
scripts/stix_validate.py accepts, and no other). Prints one JSON line: the ids read, the
manifest's ids, the collections, whether a listing looped (the same page again), and the
validator's verdict. Exits 1 on any failure.
"""
import json
import pathlib
import socket
import sys

from taxii2client.common import TokenAuth
from taxii2client.v21 import Server, as_pages

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import stix_validate  # noqa: E402


def read_pages(endpoint, per_page, item):
    """Every page `as_pages` reads. A server that answers `more` with the same page again
    and no `next` (OpenTAXII 0.10.0b1's manifest) would loop taxii2-client forever: the
    reading stops at the first page that repeats the one before, and says so."""
    items, previous = [], None
    for envelope in as_pages(endpoint, per_request=per_page):
        page = envelope.get("objects", [])
        if page and page == previous:
            return items, True
        previous = page
        items.extend(item(x) for x in page)
    return items, False


def main(url, peer, token, scheme, out, per_page):
    # taxii2-client sets no timeout: a server that takes the connection and never answers
    # would hold this check (and the test waiting for it) forever.
    socket.setdefaulttimeout(60)
    if scheme == "basic":
        server = Server(url, user=peer, password=token)
    else:
        server = Server(url, auth=TokenAuth(token))
    root = server.default or server.api_roots[0]
    collections = {c.alias if hasattr(c, "alias") else c.title: c for c in root.collections}
    shared = next(c for c in root.collections if c.can_read)
    objects, objects_loop = read_pages(shared.get_objects, per_page, lambda o: o)
    manifest, manifest_loop = read_pages(shared.get_manifest, per_page, lambda m: m["id"])
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.stix.json"):
        old.unlink()
    if objects:
        bundle = {"type": "bundle", "id": "bundle--6f0b5a3e-57a4-4c0a-9d6e-0c3ad2b3a4f1", "objects": objects}
        (out / "pulled.stix.json").write_text(json.dumps(bundle))
        valid = stix_validate.main(out) == 0
    else:
        valid = True
    print(json.dumps({
        "api_root": root.url,
        "versions": root.versions,
        "collections": sorted(collections),
        "ids": [o["id"] for o in objects],
        "manifest": manifest,
        "objects_loop": objects_loop,
        "manifest_loop": manifest_loop,
        "valid": valid,
    }))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])))
