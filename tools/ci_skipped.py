#!/usr/bin/python3
"""Lists every test that Maven Surefire skipped, with the reason it gave, from the XML reports
under each module's target/surefire-reports; with CI=true in the environment, exits 1 when a
skipped test is not named in the allowed list (lines "Class#method why"; a line starting with #
is a comment).

Usage: tools/ci_skipped.py [--allowed FILE] [ROOT]
"""
import argparse
import glob
import os
import sys
import xml.etree.ElementTree as ET


def skipped(root):
    """(module, class, method, reason) of every skipped test case under root."""
    out = []
    pattern = os.path.join(root, "*", "target", "surefire-reports", "TEST-*.xml")
    for path in sorted(glob.glob(pattern)):
        module = os.path.relpath(path, root).split(os.sep)[0]
        for case in ET.parse(path).getroot().iter("testcase"):
            skip = case.find("skipped")
            if skip is None:
                continue
            lines = (skip.text or "").strip().splitlines()
            reason = skip.get("message") or (lines[0] if lines else "(no reason given)")
            for noise in ("org.opentest4j.TestAbortedException: ", "Assumption failed: "):
                reason = reason.replace(noise, "")
            classname = case.get("classname", "?").rsplit(".", 1)[-1]
            out.append((module, classname, case.get("name", "?"), reason))
    return out


def allowed(path):
    names = set()
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):  # a comment starts its line: names hold '#'
                    names.add(line.split()[0])
    return names


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allowed", help="the file of tests allowed to skip")
    parser.add_argument("root", nargs="?", default=".")
    args = parser.parse_args()
    cases = skipped(args.root)
    ok = allowed(args.allowed)
    unexpected = []
    if not cases:
        print("ci: no test was skipped")
    else:
        print("ci: %d test(s) skipped:" % len(cases))
        for module, cls, method, reason in cases:
            name = "%s#%s" % (cls, method.split("(")[0].split("[")[0])
            allowed_here = name in ok
            if not allowed_here:
                unexpected.append(name)
            print("  %s %s/%s: %s" % ("allowed" if allowed_here else "NOT ALLOWED", module, name, reason))
    if unexpected and os.environ.get("CI") == "true":
        print("ci: %d skip(s) not on %s: under CI a skip is a failure" % (len(unexpected), args.allowed),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
