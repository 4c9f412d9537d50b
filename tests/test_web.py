"""``hcfl web`` without a browser or a node: the round model folded from typed events
(checked against the reference on a titanoboa round), the escaping of hostile data in the
rendered page, the description documents' checks, the server's headers, a node that does
not answer, and the command's bad input."""

from __future__ import annotations

import hashlib
import html.parser
import socket
import threading
import time

import pytest

from contracts.auction import Report, RoundPlan, finish_round, run_auction
from contracts.chain import Event
from hcfl_cli.documents import Description, FolderServer
from hcfl_cli.main import main
from hcfl_cli.web.chain_reader import ChainReader
from hcfl_cli.web.descriptions import MAX_DESCRIPTION_BYTES, DescriptionCache, DescriptionStatus, http_uri
from hcfl_cli.web.model import DeploymentModel, payment, progress
from hcfl_cli.web.page import Renderer
from hcfl_cli.web.watch import PageState, Watcher
from mechanism import settle

ADDRESS = "0x" + "11" * 20


def _profile() -> dict:
    return dict(budgets=[60, 40], owner_weights=[1, 2], station_weights=[1, 1],
                owner_values=[[90, 10], [30, 70]], station_costs=[[20, 10], [25, 5]])


@pytest.fixture(scope="module")
def boa_round():
    """One whole round on titanoboa: its deployment, plan, outcome and finish."""
    plan = RoundPlan.from_profile(**_profile(), bond=1)
    d = plan.deploy()
    auction = run_auction(d, plan)
    done = finish_round(d, auction, plan, report=Report(b"\x05" * 32, 8800, [3, 4], "http://127.0.0.1:9/m.pt"),
                        punish=lambda owner: owner == 1)
    return d, plan, auction, done


def test_the_model_folds_a_round_into_progress_outcome_report_and_votes_equal_to_the_reference(boa_round):
    d, plan, auction, done = boa_round
    model = DeploymentModel()
    assert model.apply(d.events()) == {1}
    r = model.rounds[1]
    ref = settle(**_profile())
    assert r.winner == ref.winner and r.closed.welfare == ref.welfare
    assert [m.address for m in r.owners] == auction.owners and [m.address for m in r.stations] == auction.stations
    for i, m in enumerate(r.owners):
        assert (m.settled.share, m.settled.tax, payment(m)) == (ref.owner_share[i], ref.owner_tax[i], ref.owner_pays[i])
    for j, m in enumerate(r.stations):
        assert (m.settled.share, m.settled.tax, payment(m)) == (ref.station_share[j], ref.station_tax[j],
                                                               ref.station_receives[j])
    steps = ("registered", "committed", "revealed", "settled", "withdrawn")
    assert all(dict(progress(m)) == dict.fromkeys(steps, True) for m in r.members)
    assert r.taxes == sum(ref.owner_tax) + sum(ref.station_tax)
    assert r.contributions == [3, 4] and r.report.accuracy_bps == 8800
    assert [(m.index, v) for m, v in r.owner_votes] == done.votes
    assert r.finalized is not None and r.phase_name == "Finalized"


def test_events_the_model_does_not_know_are_skipped_and_counted_and_the_rest_still_folds(boa_round):
    d = boa_round[0]
    model = DeploymentModel()
    strangers = [Event("Revoked", {"participant": ADDRESS, "from_round": 2}),  # a newer contract's event
                 Event("Registered", {"round_id": 1}),  # one that does not decode into its record
                 Event("Voted", {"round_id": 1, "owner": ADDRESS, "punish": True})]  # a voter never registered
    model.apply(strangers[:2] + d.events() + strangers[2:])
    assert model.skipped == 2  # the stranger's vote is a known event: folded, and it changes nobody's
    r = model.rounds[1]
    assert len(r.members) == 4 and r.member(ADDRESS) is None and ADDRESS not in r.votes and r.finalized is not None


@pytest.mark.parametrize("uri, link", [
    ("http://example.org/a.json", True), ("HTTPS://example.org/a", True),
    ("javascript:alert(1)", False), (" http://example.org", False), ("http://exa mple.org", False),
    ("http://example.org/\nx", False), ("data:text/html,<script>", False), ("/etc/passwd", False),
    ("file:///etc/passwd", False), ("http://", False), ("", False), (None, False)])
def test_only_a_plain_http_url_is_made_a_link(uri, link):
    assert http_uri(uri) is link


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">"\'><b>'


def _hostile_state() -> PageState:
    ev = [
        Event("RoundStarted", {"round_id": 1, "deadline": 100, "subsidy": 0}),
        Event("Proposed", {"round_id": 1, "index": 0, "proposer": ADDRESS, "budget": 5, "bond": 1,
                           "content_hash": b"\x01" * 32, "uri": "javascript:alert(3)", "accuracy_bps": 1,
                           "training_rounds": 1, "label_mask": 3, "param_count": 7}),
        Event("TrainingReported", {"round_id": 1, "model_hash": b"\x02" * 32, "model_uri": "javascript:alert(4)",
                                   "accuracy_bps": 1, "stations": 0, "contributions": []}),
    ]
    state = PageState("http://127.0.0.1:1", ADDRESS, 1.0)
    state.model.apply(ev)
    doc = Description(HOSTILE, HOSTILE, (1,), 1, 1, 1, {HOSTILE: HOSTILE},
                      {"ca_uri": "javascript:alert(5)", "fleet_address": HOSTILE}, HOSTILE)
    state.docs = lambda uri, h: DescriptionStatus("verified", doc)
    return state


def test_hostile_document_fields_and_uris_render_as_text_only():
    state = _hostile_state()
    assert [r.round_id for r in state.past] == [1]  # no current round known: it renders in the history part
    live, history = Renderer().parts(state)
    page = Renderer().page(state, 1, 1)
    for doc in (history, page):
        p = _Tags()
        p.feed(doc)
        tags = {t for t, _ in p.tags}
        assert not tags & {"svg", "b", "iframe"}, tags
        assert [a.get("src") for t, a in p.tags if t == "script"] == (["/static/live.js"] if doc is page else [])
        assert all(not k.startswith("on") for _, attrs in p.tags for k in attrs)
        assert all(attrs["href"].startswith("http") for t, attrs in p.tags if t == "a")
        assert [a["src"] for t, a in p.tags if t == "img"] == [f"/plots/{n}.svg?v=0" for n in ("pool", "welfare",
                                                                                            "payments")]
        text = "".join(p.text)
        assert HOSTILE[:60] in text and "javascript:alert(3)" in text and "javascript:alert(4)" in text
    assert "|safe" not in "".join(open(f, encoding="utf-8").read() for f in
                                  (Renderer().env.loader.searchpath[0] + "/" + n for n in
                                   ("page.html", "live.html", "history.html", "macros.html")))


def test_a_description_is_shown_only_when_it_matches_its_sha256(tmp_path):
    server = FolderServer(tmp_path / "pub").start()
    good = Description("resnet18", "cifar10", (0, 1), 8000, 2, 100).to_bytes()
    (server.folder / "good.json").write_bytes(good)
    (server.folder / "big.json").write_bytes(b" " * (MAX_DESCRIPTION_BYTES + 1))
    (server.folder / "junk.json").write_bytes(b"not json")
    done = threading.Event()
    cache = DescriptionCache(tmp_path / "cache", on_change=done.set)
    try:
        def get(name: str, content: bytes) -> DescriptionStatus:
            uri = server.url_of(server.folder / name)
            sha = hashlib.sha256(content).digest()
            first = cache.get(uri, sha)
            end = time.monotonic() + 10
            while cache.get(uri, sha).state == "pending" and time.monotonic() < end:
                done.wait(0.1)
                done.clear()
            return first if first.state != "pending" else cache.get(uri, sha)

        ok = get("good.json", good)
        assert ok.verified and ok.description.model == "resnet18"
        wrong = get("good.json", b"other bytes")
        assert wrong.state == "unverified" and "sha256" in wrong.reason
        assert "larger than" in get("big.json", b" " * (MAX_DESCRIPTION_BYTES + 1)).reason
        assert "not a description document" in get("junk.json", b"not json").reason
        local = tmp_path / "local.json"
        local.write_bytes(good)
        refused = cache.get(str(local), hashlib.sha256(good).digest())
        assert refused.state == "unverified" and "http(s)" in refused.reason
        assert cache.get("javascript:alert(1)", b"\x01" * 32).reason.startswith("not fetched")
        assert "names no description" in cache.get("http://127.0.0.1:9/x", b"\x00" * 32).reason
    finally:
        cache.close()
        server.stop()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_node_that_accepts_but_never_answers_is_reported_within_the_timeout_not_waited_for():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) and never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        w = Watcher(ChainReader(url, ADDRESS, timeout=0.3), renderer=Renderer(), poll_s=0.1)
        t0 = time.monotonic()
        w.tick()
        assert time.monotonic() - t0 < 3
        assert w.state.status.kind == "down"
        assert f"The node at {url} does not answer" in w.snapshot.live
        assert "Traceback" not in w.snapshot.page
    finally:
        silent.close()


def _fetch(url: str, **kwargs) -> tuple[int, dict, bytes]:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, **kwargs), timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_the_server_answers_with_a_strict_csp_and_only_to_loopback_hosts():
    import json

    from hcfl_cli.web.app import Source, WebServer

    with WebServer(Source(f"http://127.0.0.1:{_dead_port()}", ADDRESS, poll_s=0.2)) as server:
        base = server.url
        assert base.startswith("http://127.0.0.1:")
        status, headers, body = _fetch(base)
        assert status == 200 and b"does not answer" in body
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        update = json.loads(_fetch(base + "update?live=-1&history=-1")[2])
        assert update["ok"] is False and "does not answer" in update["live"]["html"]
        snap = server.watcher.snapshot
        same = json.loads(_fetch(f"{base}update?live={snap.live_version}&history={snap.history_version}")[2])
        assert same == {"block": None, "now": None, "ok": False}
        status, headers, svg = _fetch(base + "plots/pool.svg")
        assert headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg
        assert "script-src" not in headers["content-security-policy"]
        assert _fetch(base + "plots/nope.svg")[0] == 404
        assert _fetch(base + "static/live.js")[1]["content-security-policy"] == csp
        assert _fetch(base, data=b"x", method="POST")[0] == 405
        assert _fetch(base, headers={"Host": "attacker.example"})[0] == 400  # DNS rebinding


@pytest.mark.parametrize("argv, option", [
    (["--rpc", "ftp://127.0.0.1:1", "--address", ADDRESS], "--rpc"),
    (["--rpc", "http://127.0.0.1:1", "--address", "0x1234"], "--address"),
    (["--rpc", "http://127.0.0.1:1", "--deployment", "/nonexistent/deployment.json"], "--deployment"),
    (["--rpc", "http://127.0.0.1:1", "--address", ADDRESS, "--port", "70000"], "--port"),
    (["--rpc", "http://127.0.0.1:1", "--address", ADDRESS, "--poll", "0"], "--poll"),
])
def test_bad_input_to_hcfl_web_is_one_line_naming_the_option(argv, option, capsys):
    assert main(["web", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hcfl web: error: {option}") and "\n" not in err


def test_hcfl_web_explains_itself_and_localnet_can_serve_the_page(capsys):
    from hcfl_cli.main import build_parser

    with pytest.raises(SystemExit) as done:
        main(["web", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "read-only web page" in out and "--deployment" in out and "127.0.0.1" in out
    assert build_parser().parse_args(["localnet", "--web"]).web is True
    assert build_parser().parse_args(["localnet"]).web is False


def test_a_cancelled_round_and_a_round_nobody_won_say_so_without_a_vote_table():
    from contracts.driver import Deployment

    d = Deployment.deploy()
    d.register(d.new_account(), "owner", deposit=100)
    d.next_phase()  # one owner, no station: cancelled
    d.start_round()
    people = [d.new_account() for _ in range(3)]
    for a, role in zip(people, ("owner", "owner", "station")):
        d.register(a, role, deposit=100)
    d.next_phase()
    d.propose(people[0], budget=10, bond=1)
    d.next_phase()
    for a in people:
        d.commit(a, [0])
    d.next_phase()
    for a in people:
        d.reveal(a)
    d.close()  # welfare 0: nothing wins, the round ends at close
    state = PageState("http://127.0.0.1:1", d.address, 1.0)
    state.model.apply(d.events())
    cancelled, nobody = state.model.rounds[1], state.model.rounds[2]
    assert cancelled.finalized.cancelled and nobody.winner is None and nobody.finalized is not None
    history = Renderer().parts(state)[1]
    assert "Cancelled: too few participants" in history and "no proposal had positive welfare" in history
    assert "Owners' votes" not in history


def test_the_pool_shown_across_rounds_is_the_contracts_though_taxes_enter_it_without_an_event():
    from hcfl_cli.web.chain_reader import Live
    from hcfl_cli.web.plots import plot_data

    plan = RoundPlan.from_profile(**_profile(), bond=1)
    d = plan.deploy()
    carried = []  # the pool() view at the end of each round
    for k in range(2):
        if k:
            d.start_round()
        finish_round(d, run_auction(d, plan), plan, punish=lambda owner: False,
                     report=Report(b"\x05" * 32, 8800, [3, 4], "http://127.0.0.1:9/m.pt"))
        carried.append(d.pool())
    assert carried[0] > 0 and carried[1] > 0  # the taxes, which no PoolChanged logs
    state = PageState("http://127.0.0.1:1", d.address, 1.0)
    state.model.apply(d.events())
    assert state.model.rounds[2].subsidy == carried[0]
    assert plot_data(state.model.ordered, d.pool()).pool == tuple(carried)
    state.live = Live(2, 64, 0, d.pool())  # what the watcher reads at the head: the pool() view
    assert f"pool now: {carried[1]:,}" in Renderer().parts(state)[0]
