"""``hcfl web`` in a real browser (Debian's headless Chromium driven by playwright) against
rounds played on anvil: the page follows a round live without a reload and shows the
outcome equal to the reference to the wei, the votes and the audit; hostile documents and
URIs are shown as text and nothing in them runs; a node that goes away is reported and
the page recovers by itself when it comes back.

In CI (``CI`` set, or ``HCFL_REQUIRE_BROWSER``/``HCFL_REQUIRE_ANVIL``) a missing browser
or anvil fails these tests; elsewhere they are skipped with the reason.
``HCFL_WEB_SCREENSHOTS=DIR`` also writes the README's two screenshots there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from contracts.auction import Report, RoundPlan, finish_round, run_auction
from contracts.driver import Deployment
from hcfl_cli.documents import Description, FolderServer
from hcfl_cli.web.app import Source, WebServer
from mechanism import settle
from tests.web_helpers import RestartableAnvil, anvil_node, chromium

pytestmark = pytest.mark.anvil

E12 = 10**12
DEPOSIT = 10 * E12
POLL_S = 0.2
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def anvil():
    with anvil_node() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    p = context.new_page()
    console: list[str] = []
    p.on("console", lambda msg: console.append(msg.text))
    p.console_lines = console  # type: ignore[attr-defined]
    yield p
    context.close()


def expect(locator):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def _publish(docs: FolderServer, name: str, doc: Description) -> tuple[str, bytes, Description]:
    path = docs.folder / name
    path.write_bytes(doc.to_bytes())
    return docs.url_of(path), hashlib.sha256(doc.to_bytes()).digest(), doc


def _screenshot(page, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    if os.environ.get("HCFL_WEB_SCREENSHOTS"):
        shutil.copy(out, Path(os.environ["HCFL_WEB_SCREENSHOTS"]) / name)
    return out


def _amount(text: str) -> int:
    return int(text.replace(",", "").strip())


def _earlier_round(d: Deployment) -> None:
    """One whole round before the watched one, so the pool carries a subsidy into it."""
    plan = RoundPlan.from_profile(budgets=[2 * E12, E12], owner_weights=[1, 1], station_weights=[1],
                                  owner_values=[[3 * E12, 0], [0, 5 * E12 // 2]], station_costs=[[E12 // 2] * 2],
                                  owner_deposits=[DEPOSIT] * 2, station_deposits=[DEPOSIT], bond=10**9)
    auction = run_auction(d, plan)
    finish_round(d, auction, plan, report=Report(b"\x07" * 32, 9100, [5], "http://127.0.0.1:9/model-1.pt"),
                 punish=lambda _owner: False)
    d.start_round()


def test_a_round_on_anvil_changes_phase_live_and_ends_with_the_reference_outcome_the_votes_and_the_audit(
        anvil, page, tmp_path):
    docs = FolderServer(tmp_path / "published").start()
    d = Deployment.deploy(rpc=anvil, deposit_per_weight=E12, phase_seconds=[600, 600, 900, 900, 3600, 600])
    _earlier_round(d)
    subsidy = int(d.chain.call("subsidy", [d.round_id]))
    assert subsidy > 0  # the earlier round's taxes
    owners, stations = d.new_accounts([10**20] * 3), d.new_accounts([10**20] * 2)
    ow, sw = [1, 2, 1], [1, 3]
    for a, w in zip(owners, ow):
        d.register(a, "owner", weight=w, deposit=DEPOSIT)
    for a, w in zip(stations, sw):
        d.register(a, "station", weight=w, deposit=DEPOSIT)
    d.next_phase()
    budgets = [3 * E12, 2 * E12]
    for m, (model, labels) in enumerate([("resnet18", (0, 1, 2, 3)), ("resnet50", (5, 6))]):
        uri, digest, doc = _publish(docs, f"proposal-{m}.json", Description(
            model, "cifar10", labels, 8000, 3, 11_000_000, {"clients_per_station": 2}, {}, f"owner {m}"))
        d.propose(owners[m], budget=budgets[m], bond=10**9, content_hash=digest, uri=uri, accuracy_bps=8000,
                  training_rounds=3, label_mask=doc.label_mask, param_count=11_000_000)
    d.next_phase()
    values = [[5 * E12, 0], [0, 4 * E12], [E12, E12]]
    costs = [[E12, E12 // 2], [E12, 2 * E12]]
    for a, c in zip(owners + stations, values + costs):
        d.commit(a, c)

    with WebServer(Source(anvil, d.address, poll_s=POLL_S)) as server:
        response = page.goto(server.url)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("#phase")).to_have_text("Commit", timeout=WAIT_MS)
        expect(page.locator("#live td.step.committed .yes")).to_have_count(5)
        expect(page.locator("#proposal-2-0 .badge.verified")).to_have_text("sha256 verified", timeout=WAIT_MS)
        expect(page.locator("#proposal-2-1 .doc-model")).to_have_text("resnet50")
        page.evaluate("window.__samePage = 42")  # a reload would lose it

        d.next_phase()
        expect(page.locator("#phase")).to_have_text("Reveal", timeout=WAIT_MS)
        for a in (owners + stations)[:3]:
            d.reveal(a)
        expect(page.locator("#live td.step.revealed .yes")).to_have_count(3, timeout=WAIT_MS)
        assert page.evaluate("window.__samePage") == 42
        _screenshot(page, tmp_path, "web-during-round.png")

        for a in (owners + stations)[3:]:
            d.reveal(a)
        d.close()
        for a in owners + stations:
            d.settle(a)
        model = docs.folder / "model.pt"
        model.write_bytes(b"weights")
        d.report_training(hashlib.sha256(b"weights").digest(), 8300, [4, 9], model_uri=docs.url_of(model))
        while d.phase() == "Train":  # the report may end Train at once
            d.next_phase()
        votes = {1: True, 2: False}  # owner 0's proposal wins; the other owners vote
        for i, punish in votes.items():
            d.vote(owners[i], punish)
        d.next_phase()  # finalize
        for a in owners + stations:
            d.withdraw(a)
        rid = d.round_id
        expect(page.locator("#phase")).to_have_text("Finalized", timeout=WAIT_MS)
        expect(page.locator(f"#audit-{rid} .verdict")).to_have_text("matches the reference", timeout=WAIT_MS)
        expect(page.locator(f"#audit-{rid - 1} .verdict")).to_have_text("matches the reference")
        expect(page.locator("#live td.step.withdrawn .yes")).to_have_count(5, timeout=WAIT_MS)
        assert page.evaluate("window.__samePage") == 42

        ref = settle(budgets=budgets, owner_weights=ow, station_weights=sw, owner_values=values,
                     station_costs=costs, subsidy=subsidy)
        assert ref.winner == 0 and any(ref.owner_tax) and any(ref.station_tax)  # pivotal participants: taxes
        expect(page.locator(f"#winner-{rid}")).to_have_text(f"proposal {ref.winner}")
        welfare = [_amount(t) for t in page.locator(f"#live .proposals td.welfare").all_inner_texts()]
        assert welfare == ref.welfare
        table = page.locator(f"#outcome-{rid}")
        for role, shares, taxes, pays, sign in (
                ("owner", ref.owner_share, ref.owner_tax, ref.owner_pays, -1),
                ("station", ref.station_share, ref.station_tax, ref.station_receives, 1)):
            for i in range(len(shares)):
                row = table.locator(f'tr[data-role="{role}"][data-index="{i}"]')
                got = {c: _amount(row.locator(f"td.{c}").inner_text()) for c in ("share", "tax", "payment", "payout")}
                assert got == {"share": shares[i], "tax": taxes[i], "payment": pays[i],
                               "payout": DEPOSIT + sign * pays[i]}, (role, i)
        claims = table.locator('tr[data-role="owner"][data-index="1"] td.claims').inner_text()
        assert [_amount(c) for c in claims.split("/")] == values[1]
        for i, punish in votes.items():
            cell = page.locator(f'#votes-{rid} tr[data-index="{i}"] td.vote').inner_text()
            assert cell.startswith("punish" if punish else "keep")
        expect(page.locator("#live .report .accuracy")).to_contain_text("83.00 %")
        expect(page.locator("#live .final")).to_contain_text("the bond was released")
        _screenshot(page, tmp_path, "web-after-round.png")
    docs.stop()


HOSTILE = {
    "model": "<script>window.__xss = 1</script>",
    "dataset": '<img src=x onerror="window.__xss = 2">',
    "proposer": '"><svg onload="window.__xss = 3"></svg>',
}


def test_hostile_documents_and_uris_are_shown_as_text_and_nothing_in_them_runs(anvil, page, tmp_path):
    docs = FolderServer(tmp_path / "published").start()
    d = Deployment.deploy(rpc=anvil, deposit_per_weight=E12, phase_seconds=[600] * 6)
    owner, other, station = d.new_accounts([10**20] * 3)
    for a, role in ((owner, "owner"), (other, "owner"), (station, "station")):
        d.register(a, role, deposit=DEPOSIT)
    d.next_phase()
    with WebServer(Source(anvil, d.address, poll_s=POLL_S)) as server:
        page.goto(server.url)  # the proposals arrive by the live update, not in the first page
        expect(page.locator("#phase")).to_have_text("Propose", timeout=WAIT_MS)
        uri, digest, _ = _publish(docs, "hostile.json", Description(
            HOSTILE["model"], HOSTILE["dataset"], (1,), 9000, 2, 1000,
            {"<i>k</i>": "<script>window.__xss = 5</script>"},
            {"ca_uri": "javascript:window.__xss = 4", "fleet_address": "<b>bold</b>"}, HOSTILE["proposer"]))
        d.propose(owner, budget=E12, bond=10**9, content_hash=digest, uri=uri)
        d.propose(owner, budget=E12, bond=10**9, content_hash=digest, uri="javascript:window.__xss = 6")
        d.propose(other, budget=E12, bond=10**9, content_hash=digest, uri=" JaVaScRiPt:window.__xss = 7")
        d.next_phase()
        for a, c in ((owner, [3 * E12, 0, 0]), (other, [E12, 0, 0]), (station, [0, 0, 0])):
            d.commit(a, c)
        d.next_phase()
        for a in (owner, other, station):
            d.reveal(a)
        d.close()
        d.report_training(b"\x01" * 32, 9000, [1], model_uri="javascript:window.__xss = 8")
        expect(page.locator(".report")).to_contain_text("javascript:window.__xss = 8", timeout=WAIT_MS)
        row = page.locator(f"#proposal-{d.round_id}-0")
        expect(row.locator(".badge.verified")).to_have_text("sha256 verified", timeout=WAIT_MS)
        page.wait_for_timeout(3 * POLL_S * 1000)  # a few more live updates swapped in

        for field, text in HOSTILE.items():
            assert row.locator(f".doc-{field}").inner_text() == text  # shown as text, verbatim
        expect(row.locator(".doc-superlink")).to_contain_text("javascript:window.__xss = 4")
        expect(row.locator(".doc-train")).to_contain_text("<i>k</i>=<script>window.__xss = 5</script>")
        for k, shown in ((1, "javascript:window.__xss = 6"), (2, "JaVaScRiPt:window.__xss = 7")):
            other_row = page.locator(f"#proposal-{d.round_id}-{k}")
            expect(other_row.locator("td.meta .uri")).to_contain_text(shown)
            expect(other_row.locator(".badge.unverified")).to_have_text("unverified/unreadable")
        assert page.evaluate("typeof window.__xss") == "undefined"
        found = page.evaluate("""() => ({
            scripts: [...document.scripts].map(s => s.src),
            handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
            injected: document.querySelectorAll('main img:not(.plots img), main svg, main b, main i').length,
            links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
        })""")
        assert [s.rsplit("/", 1)[-1] for s in found["scripts"]] == ["live.js"]
        assert found["handlers"] == 0 and found["injected"] == 0
        assert found["links"] and all(h.startswith("http://") for h in found["links"])
        # escaping, not the Content-Security-Policy, kept them out: nothing even tried to run
        assert not [line for line in page.console_lines if "Content Security Policy" in line]
    docs.stop()


def test_a_node_that_goes_away_is_reported_on_the_page_which_recovers_when_it_comes_back(page, tmp_path):
    node = RestartableAnvil(tmp_path).start()
    try:
        d = Deployment.deploy(rpc=node.url, phase_seconds=[600] * 6)
        for a, role in zip(d.new_accounts([10**20] * 3), ("owner", "owner", "station")):
            d.register(a, role, deposit=DEPOSIT)
        with WebServer(Source(node.url, d.address, poll_s=POLL_S)) as server:
            page.goto(server.url)
            expect(page.locator("#phase")).to_have_text("Register", timeout=WAIT_MS)
            expect(page.locator("#node-status")).to_have_count(0)
            page.evaluate("window.__samePage = 42")

            node.stop()  # the node's process ends
            status = page.locator("#node-status")
            expect(status).to_contain_text(f"The node at {node.url} does not answer", timeout=WAIT_MS)
            expect(page.locator("#phase")).to_have_text("Register")  # what it read before stays
            assert "Traceback" not in page.content()

            node.start()  # a new process, from the chain the old one left
            expect(status).to_have_count(0, timeout=WAIT_MS)
            d.next_phase()  # and the round moves on: the page follows it again
            expect(page.locator("#phase")).to_have_text("Propose", timeout=WAIT_MS)
            assert page.evaluate("window.__samePage") == 42
    finally:
        node.stop()
