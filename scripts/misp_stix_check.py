"""Imports irtx's STIX bundles with MISP's own converter (misp-stix) and checks that they read
right in MISP, as issue 10 and DESIGN.md section 9 ask.

Usage: misp_stix_check.py BUNDLE_DIR REPORT_DIR

For every NAME[.CAP-AUDIENCE-PROFILE].stix.json in BUNDLE_DIR (made from REPORT_DIR/NAME.json):
- the MISP event's info is the report's title (or "(withheld)" where the title was removed)
  and is the bundle's `report` name;
- the event carries exactly one TLP tag, the document's marking (the highest in the bundle);
- every STIX `indicator` (attacker-side, in clear) became an attribute or object with to_ids;
- no attribute with to_ids holds a victim-side value of the source report (an asset's name or
  address, a target or victim indicator) or a pseudonym (a value carrying irtx-pseudonym);
- every value irtx sent as observed data arrived as some attribute (nothing dropped).
Prints one line per failure and a summary; exits 1 on any failure.
"""
import json
import pathlib
import sys
import tempfile

from misp_stix_converter import stix_2_to_misp

TLP2 = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": (0, "clear"),
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": (1, "green"),
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": (2, "amber"),
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": (3, "amber+strict"),
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": (4, "red"),
}
PSEUDONYM_EXT = "irtx-pseudonym"


def uuid_of(stix_id):
    return stix_id.split("--", 1)[1]


def document_marking(objects):
    levels = []
    for o in objects:
        refs = list(o.get("object_marking_refs", []))
        refs += [g["marking_ref"] for g in o.get("granular_markings", [])]
        levels += [TLP2[r] for r in refs if r in TLP2]
    return max(levels)[1]


def victim_values(report):
    values = set()
    for a in report.get("assets", []):
        values.add(a["name"].lower())
        if a.get("address"):
            values.add(a["address"].lower())
    for i in report.get("indicators", []):
        if i["role"] in ("target", "victim"):
            values.add(i["value"].lower())
    return values


def sco_values(o):
    for key in ("value", "name", "account_login"):
        if key in o:
            yield str(o[key]).lower()
    if "number" in o:
        yield f"as{o['number']}"
        yield str(o["number"])
    for h in o.get("hashes", {}).values():
        yield h.lower()


def attributes(event):
    for a in event.get("Attribute", []):
        yield a, None
    for obj in event.get("Object", []):
        for a in obj.get("Attribute", []):
            yield a, obj


def parts(value):
    return {p.lower() for p in str(value).split("|")}


def check(bundle_path, report_dir, work):
    name = bundle_path.name.split(".")[0]
    report = json.loads((report_dir / f"{name}.json").read_text())
    bundle = json.loads(bundle_path.read_text())
    objects = bundle["objects"]
    problems = []
    result = stix_2_to_misp(str(bundle_path), output_dir=str(work), single_event=True)
    if not result.get("success"):
        return [f"misp-stix could not import it: {result.get('errors')}"], {}
    out = json.loads(pathlib.Path(result["results"][0]).read_text())
    event = out.get("Event", out)

    reports = [o for o in objects if o["type"] == "report"]
    if len(reports) != 1:
        problems.append(f"{len(reports)} report objects, want 1")
    elif event.get("info") != reports[0]["name"]:
        problems.append(f"event info {event.get('info')!r} is not the report's name")
    # The title as this view has it: the report's own (or the placeholder of a removed one),
    # or, under a profile that anonymizes free text, the main object's name.
    main = [o for o in objects if o["type"] in ("incident", "vulnerability")][:1]
    profile = bundle_path.name.split(".")[1].rsplit("-", 1)[1] if bundle_path.name.count(".") > 2 else "none"
    titles = {report["title"], "(withheld)"} if profile == "none" else {main[0]["name"]} if main else set()
    if event.get("info") not in titles:
        problems.append(f"event info {event.get('info')!r} is not the title ({sorted(titles)})")

    want = "tlp:" + document_marking(objects)
    tlp_tags = sorted(t["name"] for t in event.get("Tag", []) if t["name"].lower().startswith("tlp:"))
    if tlp_tags != [want]:
        problems.append(f"event TLP tags {tlp_tags}, want [{want!r}]")

    # misp-stix names the indicator an attribute came from in its comment (or the object's),
    # or gives a pattern-only object the indicator's uuid.
    ids_context = " ".join(
        " ".join(str(x) for x in (a.get("comment"), a.get("uuid"), *(
            (obj.get("comment"), obj.get("uuid")) if obj else ())))
        for a, obj in attributes(event)
        if a.get("to_ids")
    )
    indicators = [o for o in objects if o["type"] == "indicator"]
    for ind in indicators:
        if ind["id"] not in ids_context and uuid_of(ind["id"]) not in ids_context:
            problems.append(f"indicator {ind['name']!r} is not an attribute with to_ids")

    victims = victim_values(report)
    pseudonyms = set()
    for o in objects:
        ext = [k for k in o.get("extensions", {}) if k.startswith("extension-definition--")]
        if ext and o.get("extensions", {})[ext[0]].get("pseudonymized"):
            pseudonyms.update(sco_values(o))
    ids = [a for a, _ in attributes(event) if a.get("to_ids")]
    for a in ids:
        bad = parts(a["value"]) & (victims | pseudonyms)
        if bad:
            kind = "pseudonym" if bad & pseudonyms else "victim value"
            problems.append(f"{kind} {sorted(bad)[0]!r} is an attribute with to_ids ({a['type']})")

    everything = set()
    for a, _ in attributes(event):
        everything |= parts(a["value"])
    sco_by_id = {o["id"]: o for o in objects if "created" not in o and o["type"] not in ("marking-definition",)}
    observed = 0
    for od in (o for o in objects if o["type"] == "observed-data"):
        for ref in od["object_refs"]:
            values = set(sco_values(sco_by_id.get(ref, {})))
            observed += 1
            if values and not values & everything:
                problems.append(f"observed value {sorted(values)[0]!r} is no attribute")

    if profile != "none" and victims & everything:
        problems.append(f"victim value {sorted(victims & everything)[0]!r} in clear under profile {profile}")

    counts = {
        "indicators": len(indicators),
        "to_ids": len(ids),
        "not_ids": sum(1 for a, _ in attributes(event) if not a.get("to_ids")),
        "observed": observed,
        "pseudonyms": len(pseudonyms),
        "victim_values_in_clear": len(victims & everything),
    }
    return problems, counts


def main(bundle_dir, report_dir):
    bundles = sorted(bundle_dir.glob("*.stix.json"))
    failed = 0
    totals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for b in bundles:
            problems, counts = check(b, report_dir, pathlib.Path(tmp))
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            if problems:
                failed += 1
                for p in problems:
                    print(f"misp-stix: {b.name}: {p}")
    summary = ", ".join(f"{k} {v}" for k, v in totals.items())
    print(f"misp-stix: {len(bundles) - failed} of {len(bundles)} bundles read right in MISP ({summary})")
    return 1 if failed or not bundles else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
