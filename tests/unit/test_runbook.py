"""Every alert's runbook_url points at a section of docs/runbook.md that exists."""

from __future__ import annotations

import re

import yaml

from closet.config import REPO_ROOT
from closet_dev import monitoring

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"


def anchors(markdown: str) -> set[str]:
    """Heading anchors as GitLab and GitHub generate them: lower case, punctuation dropped, spaces to '-'."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(text.replace(" ", "-"))
    return out


def alerts() -> list[dict]:
    return [
        r
        for f in monitoring.RULE_FILES
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    ]


def test_every_alert_has_a_runbook_section():
    found = alerts()
    assert len(found) >= 12  # 8 serving alerts + 4 generated burn-rate alerts
    sections = anchors(RUNBOOK.read_text(encoding="utf-8"))
    for rule in found:
        url = rule.get("annotations", {}).get("runbook_url")
        assert url, f"{rule['alert']} has no runbook_url"
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor == rule["alert"].lower(), url
        assert anchor in sections, f"{rule['alert']}: docs/runbook.md has no section #{anchor}"


def test_runbook_links_between_sections_resolve():
    text = RUNBOOK.read_text(encoding="utf-8")
    sections = anchors(text)
    links = re.findall(r"\]\(#([\w-]+)\)", text)
    assert links, "the runbook links no section: the pattern is broken"
    assert not [a for a in links if a not in sections]


def test_anchor_rule_matches_the_hosts():
    assert anchors("## ClosetTargetDown\n### SLO burn-rate alerts\n") == {"closettargetdown", "slo-burn-rate-alerts"}
