# pragma version ~=0.4.3
# pragma optimize codesize
# (codesize: with the station bonus the gas-optimised code would exceed EIP-170; it costs
# 114 to 521 gas a transaction, `python -m benchmarks.gas --quick`)
"""
@title HCFL crowdfunding round: truthful model selection by the Clarke tax
@custom:contract-name HCFL
@license MIT
@notice Holds the deposits of model owners and base stations, keeps their claims
        sealed until all are in, chooses the proposal of highest reported welfare and
        charges every participant its Clarke tax, exactly as `mechanism.settle` does
        (SPEC sections 2, 3 and 5). Several rounds run one after the other in one
        deployment; each round walks the phases
        Register -> Propose -> Commit -> Reveal -> Train -> Vote -> Finalized.
@dev No function loops over participants. Welfare totals are accumulated at reveal
     time, so `close` is O(M); every participant is settled by its own `settle` call in
     O(M), which anyone may send (the claims travel again as calldata and are checked
     against the stored commitment, so claims are never stored). Money leaves only by
     pull payments (`withdraw`, `withdraw_bond`). After every transaction:
         self.balance == withdrawable + held + pool
     where "withdrawable" is every settled, unwithdrawn payout and every released,
     unwithdrawn bond; "held" is every unsettled deposit, every unreleased bond, every
     round's unswept float and every round's reserved subsidy (see `held_float`).
     Storage is laid out for gas: a proposal's budget and its biased welfare total share
     one slot that the proposer writes first (so no reveal pays a zero-to-nonzero write).
     The commitment slot is first written by `commit`, not at registration, so that a
     registration (with its ticket check) stays cheap.
     Admission (SPEC section 5 step 0): a deployment with an organizer admits only
     participants holding an EIP-712 ticket it signed, with the ticket's weight; an
     open deployment (no organizer) admits everyone with weight 1. Signatures are
     checked with snekmate's `ecdsa` and `eip712_domain_separator` modules.
"""


# @dev snekmate's EIP-712 domain (name "HCFL", version "2", chain id, this contract):
#      it caches the separator and recomputes it after a fork changes the chain id.
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator


# @dev snekmate's signature recovery; it refuses malleable (high-s) signatures and a
#      recovery to the zero address.
from snekmate.utils import ecdsa


# @dev ERC-5267: wallets read the domain of the admission tickets from here.
exports: eip712_domain_separator.eip712Domain


# @dev Phase of a round that takes registrations and deposits. The phases are
#      one bit each, so that a set of phases is a mask.
PHASE_REGISTER: constant(uint256) = 1


# @dev Phase of a round that takes proposals and their bonds.
PHASE_PROPOSE: constant(uint256) = 2


# @dev Phase of a round that takes sealed commitments.
PHASE_COMMIT: constant(uint256) = 4


# @dev Phase of a round that opens the commitments; `close` ends it.
PHASE_REVEAL: constant(uint256) = 8


# @dev Phase of a round in which the winner trains and reports.
PHASE_TRAIN: constant(uint256) = 16


# @dev Phase of a round in which the owners vote on the winner; `finalize` ends it.
PHASE_VOTE: constant(uint256) = 32


# @dev Last phase of a round: the bonds are released or slashed.
PHASE_FINALIZED: constant(uint256) = 64


# @dev Positions of the phases in a round: phase `PHASE_X == 1 << STAGE_X`, and the
#      length of phase X sits at bits `32 * STAGE_X` of `PHASE_SECONDS`.
STAGE_REGISTER: constant(uint256) = 0


# @dev Position of the Propose phase (see `STAGE_REGISTER`).
STAGE_PROPOSE: constant(uint256) = 1


# @dev Position of the Commit phase.
STAGE_COMMIT: constant(uint256) = 2


# @dev Position of the Reveal phase.
STAGE_REVEAL: constant(uint256) = 3


# @dev Position of the Train phase.
STAGE_TRAIN: constant(uint256) = 4


# @dev Position of the Vote phase.
STAGE_VOTE: constant(uint256) = 5


# @dev Position of the Finalized phase, which has no length.
STAGE_FINALIZED: constant(uint256) = 6


# @dev Width of one phase length in `PHASE_SECONDS`.
SECONDS_MASK: constant(uint256) = 2**32 - 1


# @dev Role of a model owner; role 0 means "not registered in this round".
ROLE_OWNER: constant(uint256) = 1


# @dev Role of a base station.
ROLE_STATION: constant(uint256) = 2


# @dev Participant status bit: the claims were revealed.
STATUS_REVEALED: constant(uint256) = 1


# @dev Participant status bit: the Clarke tax was charged and the payout fixed.
STATUS_SETTLED: constant(uint256) = 2


# @dev Participant status bit: the payout was pulled.
STATUS_WITHDRAWN: constant(uint256) = 4


# @dev Participant status bit: the owner voted on the winner.
STATUS_VOTED: constant(uint256) = 8


# @dev Participant status bit: the station's bonus (SPEC section 9) was credited.
STATUS_BONUS: constant(uint256) = 16


# @dev Bond state of a proposal: held by the contract (the default, zero).
BOND_HELD: constant(uint256) = 0


# @dev Bond state of a proposal: the proposer may pull it.
BOND_RELEASED: constant(uint256) = 1


# @dev Bond state of a proposal: moved to the pool.
BOND_SLASHED: constant(uint256) = 2


# @dev Bond state of a proposal: pulled by the proposer.
BOND_WITHDRAWN: constant(uint256) = 3


# @dev Most proposals in one round (M).
MAX_M: constant(uint256) = 32


# @dev Most contributions in one training-report transaction. A longer list arrives in
#      several chunks of this size, each folded into a running hash, so that no
#      transaction's gas grows with the number of stations.
REPORT_CHUNK: constant(uint256) = 64


# @dev Largest claim, budget or weight (SPEC section 1).
MAX_AMOUNT: constant(uint256) = 2**96 - 1


# @dev Largest deposit. A deposit, and the payout it becomes (at most the deposit plus
#      a reward and a bonus, each at most `MAX_AMOUNT`), lives in the top 100 bits of its
#      owner's `info` word; it still covers the largest claim plus the largest share.
MAX_DEPOSIT: constant(uint256) = 2**99 - 1


# @dev Most participants of one side (keeps the weight sums below 2**127, every count
#      within its 32 packed bits and every welfare total within 128 bits).
MAX_PARTICIPANTS: constant(uint256) = 2**31


# @dev Welfare totals are stored as `WELFARE_BIAS + S(m)`, two proposals to a slot
#      (`welfare_pair`): |S(m)| < 2**31 * 2**96 = 2**127, so each biased total fits its
#      128 bits and no reveal carries or borrows across the two halves.
WELFARE_BIAS: constant(uint256) = 2**127


# @dev Width of one half of a `welfare_pair` or `budget_pair` word; proposal `m` sits in
#      half `m % 2` of word `m // 2`.
HALF_MASK: constant(uint256) = 2**128 - 1


# @dev An empty `welfare_pair` word: both totals zero. The proposer of an even index
#      writes it, so that no reveal pays a zero-to-nonzero write.
WELFARE_PAIR_EMPTY: constant(uint256) = 2**127 | 2**255


# @dev A round's float (owner shares in, station rewards out) is stored biased too, in
#      the high 160 bits of `round_acc`.
FLOAT_BIAS: constant(uint256) = 2**159


# @dev Layout of a participant's `info` word: `role | status << 8 | index << 16 |
#      weight << 48 | allowance << 144 | posted << 150 | amount << 156`, one slot for
#      the whole record but the commitment. Bits 0-7: the role.
INFO_ROLE_MASK: constant(uint256) = 2**8 - 1


# @dev Bits 8-15 of `info`: the status bits (`STATUS_*`); this is their shift.
INFO_STATUS_SHIFT: constant(uint256) = 8


# @dev Width of the status field of `info` (bits 8-15), applied after the shift.
INFO_STATUS_MASK: constant(uint256) = 2**8 - 1


# @dev Bits 16-47 of `info`: the index in the participant's side (below
#      `MAX_PARTICIPANTS`, so 32 bits hold it); this is its shift.
INFO_INDEX_SHIFT: constant(uint256) = 16


# @dev Width of the index field of `info` (bits 16-47), applied after the shift.
INFO_INDEX_MASK: constant(uint256) = 2**32 - 1


# @dev Bits 48-143 of `info`: the weight (at most `MAX_AMOUNT`); this is its shift.
INFO_WEIGHT_SHIFT: constant(uint256) = 48


# @dev Width of the weight field of `info` (bits 48-143), applied after the shift.
INFO_WEIGHT_MASK: constant(uint256) = 2**96 - 1


# @dev Bits 144-149 of `info`: how many proposals the owner may post this round (its
#      ticket's, or the deployment's, at most `MAX_M`); this is its shift.
INFO_ALLOWANCE_SHIFT: constant(uint256) = 144


# @dev Bits 150-155 of `info`: how many proposals the owner posted this round; this
#      is its shift.
INFO_POSTED_SHIFT: constant(uint256) = 150


# @dev Width of the allowance and posted fields of `info`, applied after the shift.
INFO_COUNT_MASK: constant(uint256) = 2**6 - 1


# @dev Bits 156-255 of `info`: the amount, the deposit while unsettled, then the
#      payout (below 2**100, see `MAX_DEPOSIT`); this is its shift.
INFO_AMOUNT_SHIFT: constant(uint256) = 156


# @dev The bits of `info` below the amount.
INFO_BELOW_AMOUNT_MASK: constant(uint256) = 2**156 - 1


# @dev Layout of a round's `owner_side` and `station_side` words: `count |
#      weight sum << 32 | SIDE_OPEN`. Bits 0-31: participants registered on that side.
SIDE_COUNT_MASK: constant(uint256) = 2**32 - 1


# @dev Bits 32-159 of a side word: the weight sum (below 2**127); this is its shift.
SIDE_WEIGHT_SHIFT: constant(uint256) = 32


# @dev Bit 255 of a side word, set when the round opens, so that the first
#      registration on a side pays no zero-to-nonzero write.
SIDE_OPEN: constant(uint256) = 2**255


# @dev EIP-712 type hash of an admission ticket (SPEC section 5 step 0), so that any
#      standard signer (eth-account, `cast wallet sign --data`, a hardware wallet) can
#      make one. `round` 0 admits to every round until `expiry`.
ADMISSION_TYPEHASH: constant(bytes32) = keccak256(
    "Admission(uint256 round,address participant,uint8 role,uint256 weight,uint256 maxProposals,bytes32 nodeKey,uint256 expiry)"
)


# @dev Longest Flower node public key a station may publish at registration (a P-384
#      key as DER SubjectPublicKeyInfo is 120 bytes; PEM or other encodings fit too).
MAX_NODE_KEY: constant(uint256) = 256


# @dev Longest URI of a proposal's description document or of a trained model.
MAX_URI: constant(uint256) = 256


# @dev Layout of a round's `schedule` word: `phase | deadline << 8`. Bits 0-7: the
#      phase (`PHASE_*`).
SCHEDULE_PHASE_MASK: constant(uint256) = 2**8 - 1


# @dev Bits 8-255 of `schedule`: the deadline (block timestamp); this is its shift.
SCHEDULE_DEADLINE_SHIFT: constant(uint256) = 8


# @dev Layout of a round's `round_acc` word: `settled count | participants << 32 |
#      M << 64 | (winner + 1) << 72 | cancelled << 80 | (FLOAT_BIAS + float) << 96`.
#      Bits 0-31: participants settled so far.
ACC_SETTLED_MASK: constant(uint256) = 2**32 - 1


# @dev Bits 32-63 of `round_acc`: participants registered (owners and stations);
#      this is their shift.
ACC_PARTICIPANTS_SHIFT: constant(uint256) = 32


# @dev Width of the participants field of `round_acc` (bits 32-63), applied after
#      the shift.
ACC_PARTICIPANTS_MASK: constant(uint256) = 2**32 - 1


# @dev Bits 64-71 of `round_acc`: the number of proposals M (at most `MAX_M`); this
#      is its shift.
ACC_M_SHIFT: constant(uint256) = 64


# @dev Width of the M field of `round_acc` (bits 64-71), applied after the shift.
ACC_M_MASK: constant(uint256) = 2**8 - 1


# @dev Bits 72-79 of `round_acc`: the winner index plus one (0: none); this is its
#      shift.
ACC_WINNER_SHIFT: constant(uint256) = 72


# @dev Width of the winner field of `round_acc` (bits 72-79), applied after the shift.
ACC_WINNER_MASK: constant(uint256) = 2**8 - 1


# @dev Bit 80 of `round_acc`: set when the round was cancelled.
ACC_CANCELLED: constant(uint256) = 2**80


# @dev Bits 96-255 of `round_acc`: the biased float `FLOAT_BIAS + float`; this is
#      its shift.
ACC_FLOAT_SHIFT: constant(uint256) = 96


# @dev Bits 0-95 of `round_acc`: everything below the float, kept when the last
#      settlement resets the float.
ACC_BELOW_FLOAT_MASK: constant(uint256) = 2**96 - 1


# @dev Layout of a round's `bonus_acc` word: `left | credited << 128`. Bits 0-127:
#      the bonus pool not yet credited.
BONUS_LEFT_MASK: constant(uint256) = 2**128 - 1


# @dev Bits 128-255 of `bonus_acc`: stations credited; this is their shift.
BONUS_COUNT_SHIFT: constant(uint256) = 128


# @dev Largest basis-point figure (100 %).
MAX_BPS: constant(uint256) = 10_000


# @dev The lengths of the Register, Propose, Commit, Reveal, Train and Vote phases in
#      seconds, fixed at deployment: the length of phase `1 << k` in bits `32k` to
#      `32k + 31` (Finalized, k = 6, has none). One immutable instead of six keeps the
#      deployed code within EIP-170; `phase_seconds` reads them out.
PHASE_SECONDS: immutable(uint256)


# @dev What a registered participant that did not reveal forfeits (capped by its
#      payout), so that registering and then staying silent has a price.
NO_SHOW_PENALTY: public(immutable(uint256))


# @dev Smallest responsibility bond of a proposal (at least 1 wei), so that every
#      proposal puts something at stake.
MIN_BOND: public(immutable(uint256))


# @dev Who signs the admission tickets; the zero address makes the deployment open
#      (everyone is admitted, with weight 1).
ORGANIZER: public(immutable(address))


# @dev An owner's least deposit per unit of weight `d`: every owner deposits at least
#      `weight * d` and every budget is at most `W * d`, so every owner's cost share
#      `ceil(C * w_i / W) <= w_i * d` is covered, and no registration can lower what
#      the others may propose.
DEPOSIT_PER_WEIGHT: public(immutable(uint256))


# @dev Proposals an owner may post per round in an open deployment (a ticket carries
#      its own), so that no owner can take every proposal slot.
MAX_PROPOSALS: public(immutable(uint256))


# @dev The station bonus fraction `beta` in basis points (SPEC section 9): the part
#      `B = C * beta // 10000` of the winner's budget that the stations share by their
#      reported contributions; the rest they share by weight. 0: no bonus.
BONUS_BPS: public(immutable(uint256))


# @dev One participant of one round. `info` packs role, status, index, weight,
#      proposal allowance and count, and the amount (see `INFO_*`), so that registration
#      writes one new slot and one cold read serves a whole call.
struct Participant:
    info: uint256
    commitment: bytes32


# @dev One proposal of one round; its budget lives in `budget_pair`, its welfare in
#      `welfare_pair`.
struct Proposal:
    proposer: address
    bond: uint256
    bond_state: uint256
    content_hash: bytes32
    accuracy_bps: uint256


# @dev The round now open for registration, or the last one.
current_round: public(uint256)


# @dev Recycle pool plus one: taxes, dust, penalties and slashed bonds not yet handed
#      out. The slot never holds zero, so no settlement pays a zero-to-nonzero write.
pool_plus_one: uint256


# @dev Per round: `phase | deadline << 8` (see `SCHEDULE_*`), one slot because every
#      call reads both.
schedule: HashMap[uint256, uint256]


# @dev Per round: `count | W << 32 | SIDE_OPEN` of the owners (see `SIDE_*`): how many
#      registered so far (the next owner's index) and the sum W of their weights, the
#      denominator of their cost shares; fixed once registration ends.
owner_side: HashMap[uint256, uint256]


# @dev Per round: `count | U << 32 | SIDE_OPEN` of the stations, likewise; U is the
#      denominator of their rewards.
station_side: HashMap[uint256, uint256]


# @dev Per round: number of proposals M.
n_proposals: public(HashMap[uint256, uint256])


# @dev Per round: the largest budget among the proposals, which bounds every owner's
#      largest cost share when its reveal is checked against its deposit.
max_budget: public(HashMap[uint256, uint256])


# @dev Per round: pool reserved at `start_round` to lower the winner's owner cost
#      shares: every owner share is `ceil((C_m - min(subsidy, C_m)) * w_i / W)`.
subsidy: public(HashMap[uint256, uint256])


# @dev Per round: winner index plus one (0: none), set by `close`.
winner_plus_one: public(HashMap[uint256, uint256])


# @dev Per round: everything a settlement needs of its round, in one slot written
#      first by `close` (or by a cancellation): `settled count | participants << 32 |
#      M << 64 | (winner + 1) << 72 | cancelled << 80 | (FLOAT_BIAS + float) << 96`
#      (see `ACC_*`). The float is what owners' shares brought in minus what stations'
#      rewards took out (plus the subsidy used); the last settlement sweeps it, the
#      rounding dust, to the pool.
round_acc: HashMap[uint256, uint256]


# @dev Per round: hash of the model the winner trained, from its training report.
model_hash: public(HashMap[uint256, bytes32])


# @dev Per round: accuracy in basis points the winner reports for its model, which
#      the owners' vote judges against the promised one.
achieved_accuracy_bps: public(HashMap[uint256, uint256])


# @dev Per round: running hash of the reported station contributions,
#      `keccak256(abi_encode(chunk_0))`, then `keccak256(abi_encode(hash, chunk_k))`;
#      only the hash is stored, the events carry the contributions.
contributions_hash: public(HashMap[uint256, bytes32])


# @dev Per round: contributions received so far plus one (0: the report has not
#      started), so that each chunk knows its first station.
report_progress: public(HashMap[uint256, uint256])


# @dev Per round: whether the winner listed every station's contribution; without
#      it `finalize` slashes the winner's bond.
reported: public(HashMap[uint256, bool])


# @dev Per round and station index: the reported contribution, stored only when a
#      bonus is on (each report chunk writes at most `REPORT_CHUNK` of them).
contribution: HashMap[uint256, HashMap[uint256, uint256]]


# @dev Per round: the sum of the reported contributions (with a bonus on).
contribution_total: HashMap[uint256, uint256]


# @dev Per round: the bonus pool `B` of the winner's budget, fixed by `close`.
bonus_pool: public(HashMap[uint256, uint256])


# @dev Per round: `left | credited << 128`, the bonus pool not yet credited to a
#      station and how many stations were credited; the credit of the last station
#      sweeps the rounding dust to the pool.
bonus_acc: HashMap[uint256, uint256]


# @dev Per round: number of owners that voted to punish the winner.
punish_votes: public(HashMap[uint256, uint256])


# @dev Per round: whether the winner's bond was slashed to the pool.
slashed: public(HashMap[uint256, bool])


# @dev Round -> address -> participant record (see `Participant`).
participants: HashMap[uint256, HashMap[address, Participant]]


# @dev Round -> proposal index -> proposal metadata and bond (see `Proposal`).
proposals: public(HashMap[uint256, HashMap[uint256, Proposal]])


# @dev Round -> `m // 2` -> `WELFARE_BIAS + S(m)` in half `m % 2` (see `HALF_MASK`):
#      a reveal updates one slot per two proposals.
welfare_pair: HashMap[uint256, HashMap[uint256, uint256]]


# @dev Round -> `m // 2` -> the budget C_m in half `m % 2`.
budget_pair: HashMap[uint256, HashMap[uint256, uint256]]


# @dev A round opened; `subsidy` of the pool lowers its winner's owner cost shares.
event RoundStarted:
    round_id: indexed(uint256)
    deadline: uint256
    subsidy: uint256


# @dev A round entered `phase`, which ends at `deadline`.
event PhaseChanged:
    round_id: indexed(uint256)
    phase: uint256
    deadline: uint256


# @dev A participant registered and injected its deposit.
event Registered:
    round_id: indexed(uint256)
    participant: indexed(address)
    role: uint256
    index: uint256
    weight: uint256
    deposit: uint256
    max_proposals: uint256
    node_key: bytes32
    node_public_key: Bytes[MAX_NODE_KEY]


# @dev An owner posted proposal `index` with its bond and the metadata of SPEC section 1.
event Proposed:
    round_id: indexed(uint256)
    index: uint256
    proposer: indexed(address)
    budget: uint256
    bond: uint256
    content_hash: bytes32
    uri: String[MAX_URI]
    accuracy_bps: uint256
    training_rounds: uint256
    label_mask: uint256
    param_count: uint256


# @dev A participant sealed its claims.
event Committed:
    round_id: indexed(uint256)
    participant: indexed(address)
    commitment: bytes32


# @dev A participant opened its commitment.
event Revealed:
    round_id: indexed(uint256)
    participant: indexed(address)
    claims: DynArray[uint256, MAX_M]
    salt: bytes32


# @dev The choice: winner index (meaningless when `has_winner` is false) and S(m).
event Closed:
    round_id: indexed(uint256)
    has_winner: bool
    winner: uint256
    welfare: DynArray[int256, MAX_M]
    subsidy_used: uint256


# @dev One participant's settlement: its share of the winner (c or r), tax and payout.
event Settled:
    round_id: indexed(uint256)
    participant: indexed(address)
    role: uint256
    index: uint256
    share: uint256
    tax: uint256
    penalty: uint256
    payout: uint256


# @dev The last settlement of a round moved the rounding dust to the pool.
event DustSwept:
    round_id: indexed(uint256)
    dust: uint256


# @dev The winner's training report and the first chunk of the station contributions
#      (`stations` in all, in registration order).
event TrainingReported:
    round_id: indexed(uint256)
    model_hash: bytes32
    model_uri: String[MAX_URI]
    accuracy_bps: uint256
    stations: uint256
    contributions: DynArray[uint256, REPORT_CHUNK]


# @dev A further chunk of the contributions, of the stations from index `first` on.
event ContributionsReported:
    round_id: indexed(uint256)
    first: uint256
    contributions: DynArray[uint256, REPORT_CHUNK]


# @dev An owner voted on punishing the winner.
event Voted:
    round_id: indexed(uint256)
    owner: indexed(address)
    punish: bool


# @dev The round ended; the winner's bond was slashed to the pool or released.
event Finalized:
    round_id: indexed(uint256)
    cancelled: bool
    slashed: bool
    punish_votes: uint256


# @dev Money moved into the recycle pool.
event PoolChanged:
    round_id: indexed(uint256)
    pool: uint256


# @dev A participant pulled its payout.
event Withdrawn:
    round_id: indexed(uint256)
    participant: indexed(address)
    amount: uint256


# @dev A station's bonus was credited: `bonus` of the round's bonus pool, by its
#      reported contribution (by weight when none was reported or they sum to 0).
event BonusCredited:
    round_id: indexed(uint256)
    station: indexed(address)
    index: uint256
    bonus: uint256


# @dev A proposer pulled its bond.
event BondWithdrawn:
    round_id: indexed(uint256)
    index: uint256
    proposer: indexed(address)
    amount: uint256


@deploy
def __init__(
    phase_seconds: uint256[6],
    no_show_penalty: uint256,
    min_bond: uint256,
    organizer: address,
    deposit_per_weight: uint256,
    max_proposals: uint256,
    bonus_bps: uint256,
):
    """
    @notice Opens round 1 for registration.
    @dev The phase lengths are one packed immutable, since every round of a deployment runs on
         the same schedule; the pool slot starts at one (an empty pool) so that no
         later write to it is a zero-to-nonzero one.
    @param phase_seconds Lengths of Register, Propose, Commit, Reveal, Train and Vote.
    @param no_show_penalty What a participant that does not reveal forfeits.
    @param min_bond Smallest responsibility bond of a proposal (at least 1 wei).
    @param organizer Signer of the admission tickets, or the zero address for an open
           deployment.
    @param deposit_per_weight An owner's least deposit per unit of weight, 1 .. 2**96-1.
    @param max_proposals Proposals per owner and round in an open deployment, 1 .. 32.
    @param bonus_bps The station bonus fraction in basis points, 0 .. 10000 (SPEC section 9).
    """
    packed: uint256 = 0
    for k: uint256 in range(6):
        assert phase_seconds[k] > 0 and phase_seconds[k] < 2**32, "hcfl: phase length out of range"
        packed |= phase_seconds[k] << (k << 5)
    assert deposit_per_weight >= 1 and deposit_per_weight <= MAX_AMOUNT, "hcfl: deposit per weight out of range"
    assert max_proposals >= 1 and max_proposals <= MAX_M, "hcfl: proposal allowance out of range"
    assert bonus_bps <= MAX_BPS, "hcfl: bonus over 10000 bps"
    BONUS_BPS = bonus_bps
    eip712_domain_separator.__init__("HCFL", "2")
    ORGANIZER = organizer
    DEPOSIT_PER_WEIGHT = deposit_per_weight
    MAX_PROPOSALS = max_proposals
    PHASE_SECONDS = packed
    NO_SHOW_PENALTY = no_show_penalty
    MIN_BOND = max(min_bond, 1)
    self.pool_plus_one = 1
    self._open_round(1)


@external
def start_round():
    """
    @notice Opens the next round once the current one is finalized.
    @dev The whole pool is reserved as the new round's subsidy and announced in
         `RoundStarted`, before its registration closes.
    """
    r: uint256 = self.current_round
    assert self._phase(r) == PHASE_FINALIZED, "hcfl: current round not finalized"
    self._open_round(r + 1)


@external
@payable
def register(
    round_id: uint256,
    role: uint256,
    weight: uint256,
    max_proposals: uint256,
    node_key: bytes32,
    expiry: uint256,
    ticket_round: uint256,
    signature: Bytes[65],
    node_public_key: Bytes[MAX_NODE_KEY],
):
    """
    @notice Registers the caller as an owner (role 1) or a base station (role 2) and
            injects `msg.value` as its deposit. With an organizer, the caller shows its
            admission ticket: the fields below and the organizer's signature over them.
    @dev The weight is never the participant's own say: it is the ticket's, or 1 in an
         open deployment (SPEC section 1). An owner deposits at least `weight * d`. A
         station publishes its Flower node public key, whose sha256 is the ticket's
         `node_key`.
    @param round_id The round, which must be in its Register phase.
    @param role 1 for a model owner, 2 for a base station.
    @param weight The ticket's weight (w_i or u_j), 1 .. 2**96-1; 1 when open.
    @param max_proposals The ticket's proposal allowance per round (owners), <= 32;
           ignored when open (the deployment's applies).
    @param node_key The ticket's sha256 of the station's node public key (zero for owners).
    @param expiry The ticket's last valid timestamp.
    @param ticket_round The ticket's round, or 0 for every round until `expiry`.
    @param signature The organizer's 65-byte EIP-712 signature; empty when open.
    @param node_public_key The station's Flower node public key; empty for owners.
    """
    self._require_phase(round_id, PHASE_REGISTER)
    assert role == ROLE_OWNER or role == ROLE_STATION, "hcfl: unknown role"
    assert msg.value > 0, "hcfl: zero deposit"
    assert msg.value <= MAX_DEPOSIT, "hcfl: deposit too large"
    assert self.participants[round_id][msg.sender].info == 0, "hcfl: already registered"
    allowance: uint256 = MAX_PROPOSALS
    if ORGANIZER == empty(address):
        assert weight == 1, "hcfl: an open deployment admits with weight 1"
        assert len(signature) == 0, "hcfl: an open deployment takes no ticket"
    else:
        assert weight >= 1 and weight <= MAX_AMOUNT, "hcfl: weight out of range"
        assert max_proposals <= MAX_M, "hcfl: proposal allowance out of range"
        assert block.timestamp <= expiry, "hcfl: ticket expired"
        assert ticket_round == 0 or ticket_round == round_id, "hcfl: ticket for another round"
        assert len(signature) == 65, "hcfl: ticket signature must be 65 bytes"
        digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(
            keccak256(
                abi_encode(
                    ADMISSION_TYPEHASH, ticket_round, msg.sender, role, weight, max_proposals, node_key, expiry
                )
            )
        )
        assert ecdsa._recover_sig(digest, signature) == ORGANIZER, "hcfl: ticket not signed by the organizer"
        allowance = max_proposals
    index: uint256 = 0
    side: uint256 = 0
    key: bytes32 = node_key
    if role == ROLE_OWNER:
        assert len(node_public_key) == 0 and node_key == empty(bytes32), "hcfl: an owner has no node key"
        assert msg.value >= weight * DEPOSIT_PER_WEIGHT, "hcfl: owner deposit under weight times deposit per weight"
        side = self.owner_side[round_id]
        index = side & SIDE_COUNT_MASK
        assert index < MAX_PARTICIPANTS, "hcfl: too many owners"
        self.owner_side[round_id] = side + 1 + (weight << SIDE_WEIGHT_SHIFT)
    else:
        if ORGANIZER == empty(address):
            key = empty(bytes32)
            if len(node_public_key) > 0:
                key = sha256(node_public_key)
        else:
            assert len(node_public_key) > 0 or node_key == empty(bytes32), "hcfl: station node key missing"
            assert (
                len(node_public_key) == 0 or sha256(node_public_key) == node_key
            ), "hcfl: node key does not match the ticket"
        allowance = 0
        side = self.station_side[round_id]
        index = side & SIDE_COUNT_MASK
        assert index < MAX_PARTICIPANTS, "hcfl: too many stations"
        self.station_side[round_id] = side + 1 + (weight << SIDE_WEIGHT_SHIFT)
    # one new slot: the commitment slot is first written by `commit`
    self.participants[round_id][msg.sender].info = (
        role
        | (index << INFO_INDEX_SHIFT)
        | (weight << INFO_WEIGHT_SHIFT)
        | (allowance << INFO_ALLOWANCE_SHIFT)
        | (msg.value << INFO_AMOUNT_SHIFT)
    )
    log Registered(
        round_id=round_id,
        participant=msg.sender,
        role=role,
        index=index,
        weight=weight,
        deposit=msg.value,
        max_proposals=allowance,
        node_key=key,
        node_public_key=node_public_key,
    )


@external
def advance(round_id: uint256):
    """
    @notice Moves a round to its next phase once the current phase's deadline passed:
            Register -> Propose, Propose -> Commit, Commit -> Reveal, Train -> Vote.
    @dev A round with no owner or no station, or with no proposal, is cancelled instead
         (Finalized; every deposit and bond goes back). Reveal ends by `close`, Vote by
         `finalize`. One step per call, so no phase is skipped by accident.
    @param round_id The round.
    """
    sched: uint256 = self.schedule[round_id]
    p: uint256 = sched & SCHEDULE_PHASE_MASK
    assert p != 0, "hcfl: no such round"
    assert block.timestamp >= sched >> SCHEDULE_DEADLINE_SHIFT, "hcfl: phase not over"
    if p == PHASE_REGISTER:
        if self._count(round_id, ROLE_OWNER) == 0 or self._count(round_id, ROLE_STATION) == 0:
            self._cancel(round_id)
        else:
            self._enter(round_id, STAGE_PROPOSE)
    elif p == PHASE_PROPOSE:
        if self.n_proposals[round_id] == 0:
            self._cancel(round_id)
        else:
            self._enter(round_id, STAGE_COMMIT)
    elif p == PHASE_COMMIT:
        self._enter(round_id, STAGE_REVEAL)
    elif p == PHASE_TRAIN:
        # the winner missed its report: the vote still runs, and finalize slashes
        self._enter(round_id, STAGE_VOTE)
    elif p == PHASE_REVEAL:
        raise "hcfl: reveal ends by close"
    elif p == PHASE_VOTE:
        raise "hcfl: vote ends by finalize"
    else:
        raise "hcfl: round finalized"


@external
@payable
def propose(
    round_id: uint256,
    budget: uint256,
    content_hash: bytes32,
    uri: String[MAX_URI],
    accuracy_bps: uint256,
    training_rounds: uint256,
    label_mask: uint256,
    param_count: uint256,
) -> uint256:
    """
    @notice Posts a proposal with `msg.value` as its responsibility bond.
    @dev The budget is at most `W * d`, so that every owner's deposit (at least
         `w_i * d`) covers its cost share `ceil(C * w_i / W)`; each owner posts at most
         its allowance, so that no one can take every slot. The proposer writes its
         proposal's welfare slot first, so that no reveal pays a zero-to-nonzero write.
    @param round_id The round, in its Propose phase.
    @param budget C_m, the total reward of the stations if the proposal is trained.
    @param content_hash sha256 of the proposal's description document.
    @param uri Where the description document can be fetched (a path or an http(s) URL).
    @param accuracy_bps Promised accuracy in basis points (<= 10000).
    @param training_rounds Number of global training rounds t.
    @param label_mask Target labels y as a bitmask.
    @param param_count Number of model parameters.
    @return The proposal's index m.
    """
    self._require_phase(round_id, PHASE_PROPOSE)
    info: uint256 = self.participants[round_id][msg.sender].info
    assert info & INFO_ROLE_MASK == ROLE_OWNER, "hcfl: not an owner"
    assert budget <= MAX_AMOUNT, "hcfl: budget out of range"
    assert accuracy_bps <= MAX_BPS, "hcfl: accuracy over 10000 bps"
    assert msg.value >= MIN_BOND, "hcfl: bond too small"
    assert budget <= self._weight_sum(round_id, ROLE_OWNER) * DEPOSIT_PER_WEIGHT, "hcfl: budget over W times deposit per weight"
    posted: uint256 = (info >> INFO_POSTED_SHIFT) & INFO_COUNT_MASK
    assert posted < (info >> INFO_ALLOWANCE_SHIFT) & INFO_COUNT_MASK, "hcfl: proposal allowance used up"
    m: uint256 = self.n_proposals[round_id]
    assert m < MAX_M, "hcfl: too many proposals"
    self.participants[round_id][msg.sender].info = info + (1 << INFO_POSTED_SHIFT)
    self.n_proposals[round_id] = m + 1
    if budget > self.max_budget[round_id]:
        self.max_budget[round_id] = budget
    if m & 1 == 0:
        self.welfare_pair[round_id][m >> 1] = WELFARE_PAIR_EMPTY
        self.budget_pair[round_id][m >> 1] = budget
    else:
        self.budget_pair[round_id][m >> 1] |= budget << 128
    self.proposals[round_id][m] = Proposal(
        proposer=msg.sender,
        bond=msg.value,
        bond_state=BOND_HELD,
        content_hash=content_hash,
        accuracy_bps=accuracy_bps,
    )
    log Proposed(
        round_id=round_id,
        index=m,
        proposer=msg.sender,
        budget=budget,
        bond=msg.value,
        content_hash=content_hash,
        uri=uri,
        accuracy_bps=accuracy_bps,
        training_rounds=training_rounds,
        label_mask=label_mask,
        param_count=param_count,
    )
    return m


@external
def commit(round_id: uint256, commitment: bytes32):
    """
    @notice Seals the caller's claims: `keccak256(abi_encode(this contract, round_id,
            msg.sender, claims, salt))` (see `commitment_of`). May be replaced until the
            Commit phase ends.
    @dev Claims stay sealed until every participant has committed, so that none can
         fit its claims to the others'. The zero hash is refused, so that the stored
         value tells "committed" from "registered".
    @param round_id The round, in its Commit phase.
    @param commitment The hash.
    """
    self._require_phase(round_id, PHASE_COMMIT)
    assert self.participants[round_id][msg.sender].info != 0, "hcfl: not registered"
    assert commitment != empty(bytes32), "hcfl: empty commitment"
    self.participants[round_id][msg.sender].commitment = commitment
    log Committed(round_id=round_id, participant=msg.sender, commitment=commitment)


@external
def reveal(round_id: uint256, claims: DynArray[uint256, MAX_M], salt: bytes32):
    """
    @notice Opens the caller's commitment: one claim per proposal (owners: values b,
            stations: costs k) and the salt; adds them to the welfare totals.
    @dev Checked against the commitment, which binds contract, round and sender, and
         against the deposit bound that covers the worst tax (SPEC section 5):
         owner `max b + max c <= deposit`, station `max k <= deposit`; with a bonus a
         station also covers `ceil((max C * beta // 10000) * u / U)`.
    @param round_id The round, in its Reveal phase.
    @param claims b[i][m] or k[j][m] for m = 0..M-1, each <= 2**96-1.
    @param salt The salt of the commitment.
    """
    self._require_phase(round_id, PHASE_REVEAL)
    info: uint256 = self.participants[round_id][msg.sender].info
    role: uint256 = info & INFO_ROLE_MASK
    assert role != 0, "hcfl: not registered"
    assert (info >> INFO_STATUS_SHIFT) & STATUS_REVEALED == 0, "hcfl: already revealed"
    M: uint256 = self.n_proposals[round_id]
    assert len(claims) == M, "hcfl: one claim per proposal"
    assert (
        self._commitment(round_id, msg.sender, claims, salt)
        == self.participants[round_id][msg.sender].commitment
    ), "hcfl: claims do not match the commitment"
    top: uint256 = 0
    for b: uint256 in claims:
        assert b <= MAX_AMOUNT, "hcfl: claim out of range"
        top = max(top, b)
    bound: uint256 = top
    # the largest share of `big` the participant's weight can be charged or held back
    big: uint256 = 0
    if role == ROLE_OWNER:
        # the largest cost share is the share of the largest (subsidized) budget
        big = self.max_budget[round_id]
        big -= min(big, self.subsidy[round_id])
    elif BONUS_BPS > 0:
        # the bonus part of its nominal share, which its bonus may not pay back
        big = self.max_budget[round_id] * BONUS_BPS // MAX_BPS
    if big > 0:
        bound += self._ceil_div(big * ((info >> INFO_WEIGHT_SHIFT) & INFO_WEIGHT_MASK), self._weight_sum(round_id, role))
    assert bound <= info >> INFO_AMOUNT_SHIFT, "hcfl: claims exceed the deposit bound"
    self.participants[round_id][msg.sender].info = info | (STATUS_REVEALED << INFO_STATUS_SHIFT)
    # two proposals per slot: the claims of m and m + 1 move both halves in one write
    for k: uint256 in range(MAX_M // 2):
        m: uint256 = k << 1
        if m >= M:
            break
        both: uint256 = claims[m]
        if m + 1 < M:
            both |= claims[m + 1] << 128
        if both == 0:
            continue
        if role == ROLE_OWNER:
            self.welfare_pair[round_id][k] += both
        else:
            self.welfare_pair[round_id][k] -= both
    log Revealed(round_id=round_id, participant=msg.sender, claims=claims, salt=salt)


@external
def close(round_id: uint256):
    """
    @notice Ends the Reveal phase: chooses the proposal of highest welfare in O(M).
    @dev Ties go to the lowest index; a best welfare of 0 or less chooses none. The
         subsidy used (at most the winner's budget) enters the round's float; the rest
         goes back to the pool. Losing bonds are released. With no winner the round is
         finalized at once.
    @param round_id The round, in its Reveal phase past the deadline.
    """
    sched: uint256 = self.schedule[round_id]
    assert sched & SCHEDULE_PHASE_MASK == PHASE_REVEAL, "hcfl: not in reveal phase"
    assert block.timestamp >= sched >> SCHEDULE_DEADLINE_SHIFT, "hcfl: phase not over"
    M: uint256 = self.n_proposals[round_id]
    welfare: DynArray[int256, MAX_M] = []
    best: int256 = 0
    winner: uint256 = 0
    found: bool = False
    for m: uint256 in range(MAX_M):
        if m == M:
            break
        s: int256 = self._welfare(round_id, m)
        welfare.append(s)
        if s > best:
            best = s
            winner = m
            found = True
    sub: uint256 = self.subsidy[round_id]
    used: uint256 = 0
    wp1: uint256 = 0
    bonus: uint256 = 0
    if found:
        used = min(sub, self._budget(round_id, winner))
        wp1 = winner + 1
        self.winner_plus_one[round_id] = wp1
        if BONUS_BPS > 0:
            # the bonus pool leaves the float: `credit_bonus` pays it by contribution
            bonus = self._budget(round_id, winner) * BONUS_BPS // MAX_BPS
            self.bonus_pool[round_id] = bonus
            self.bonus_acc[round_id] = bonus
    # the subsidy stays recorded: settlements recompute the shares it lowered
    n: uint256 = self._count(round_id, ROLE_OWNER) + self._count(round_id, ROLE_STATION)
    self.round_acc[round_id] = (
        ((FLOAT_BIAS + used - bonus) << ACC_FLOAT_SHIFT)
        | (wp1 << ACC_WINNER_SHIFT)
        | (M << ACC_M_SHIFT)
        | (n << ACC_PARTICIPANTS_SHIFT)
    )
    if sub > used:
        self.pool_plus_one += sub - used
        log PoolChanged(round_id=round_id, pool=self.pool_plus_one - 1)
    for m: uint256 in range(MAX_M):
        if m == M:
            break
        if not found or m != winner:
            self.proposals[round_id][m].bond_state = BOND_RELEASED
    log Closed(round_id=round_id, has_winner=found, winner=winner, welfare=welfare, subsidy_used=used)
    if found:
        self._enter(round_id, STAGE_TRAIN)
    else:
        self._enter(round_id, STAGE_FINALIZED)
        log Finalized(round_id=round_id, cancelled=False, slashed=False, punish_votes=0)


@external
def settle(round_id: uint256, who: address, claims: DynArray[uint256, MAX_M], salt: bytes32):
    """
    @notice Settles one participant in O(M): its Clarke tax, what it pays or receives,
            and its payout, which it can then `withdraw`. Anyone may call it.
    @dev A participant that revealed passes its claims again (checked against its
         commitment); one that did not passes no claims, counts as all zeros and
         forfeits the no-show penalty. Owner: pays `c[x*] + tax`. Station: receives
         `r[x*] - tax`; with a bonus its weight part `(C - B) * u // U` in place of
         `r[x*]` (the tax still counts `r`), the bonus coming by `credit_bonus`; a
         station that did not reveal is charged at most its weight part, so that it
         stays settleable whatever its deposit (SPEC section 9). The tax charged and
         the penalties go to the pool; owner shares come into the round's float and
         station rewards leave it; the last settlement sweeps the float (the rounding
         dust) into the pool.
    @param round_id A closed (or cancelled) round.
    @param who The participant.
    @param claims Its revealed claims, or none if it did not reveal.
    @param salt The salt of its commitment (ignored without claims).
    """
    self._settle(round_id, who, claims, salt)


@external
@nonreentrant
def settle_and_withdraw(round_id: uint256, claims: DynArray[uint256, MAX_M], salt: bytes32):
    """
    @notice Settles the caller and pays it its payout in the same transaction.
    @dev `settle` then `withdraw` for `msg.sender`, one transaction instead of two;
         effects before the transfer, as in `withdraw`.
    @param round_id A closed (or cancelled) round.
    @param claims The caller's revealed claims, or none if it did not reveal.
    @param salt The salt of its commitment (ignored without claims).
    """
    self._settle(round_id, msg.sender, claims, salt)
    self._withdraw(round_id, msg.sender)


@external
def report_training(
    round_id: uint256,
    model_hash: bytes32,
    model_uri: String[MAX_URI],
    accuracy_bps: uint256,
    contributions: DynArray[uint256, REPORT_CHUNK],
):
    """
    @notice The winner's training report: the trained model's hash, its accuracy and the
            first `min(stations, REPORT_CHUNK)` station contributions, in registration
            order. When every station is listed, the Vote phase opens.
    @dev A hash of the contributions is stored, and with a bonus on each contribution
         and their sum (for `credit_bonus`); the events carry them in full. With more
         stations than `REPORT_CHUNK`, `report_contributions` sends the rest.
    @param round_id The round, in its Train phase.
    @param model_hash sha256 of the trained model file.
    @param model_uri Where the model file can be fetched (a path or an http(s) URL).
    @param accuracy_bps Achieved accuracy in basis points (<= 10000).
    @param contributions Measured contributions of the first stations.
    """
    self._require_phase(round_id, PHASE_TRAIN)
    self._require_winner(round_id)
    assert accuracy_bps <= MAX_BPS, "hcfl: accuracy over 10000 bps"
    assert self.report_progress[round_id] == 0, "hcfl: report already started"
    total: uint256 = self._count(round_id, ROLE_STATION)
    n: uint256 = len(contributions)
    assert n == min(total, REPORT_CHUNK), "hcfl: one contribution per station"
    self.model_hash[round_id] = model_hash
    self.achieved_accuracy_bps[round_id] = accuracy_bps
    self.contributions_hash[round_id] = keccak256(abi_encode(contributions))
    self._store_contributions(round_id, 0, contributions)
    self.report_progress[round_id] = n + 1
    log TrainingReported(
        round_id=round_id,
        model_hash=model_hash,
        model_uri=model_uri,
        accuracy_bps=accuracy_bps,
        stations=total,
        contributions=contributions,
    )
    if n == total:
        self._finish_report(round_id)


@external
def report_contributions(round_id: uint256, contributions: DynArray[uint256, REPORT_CHUNK]):
    """
    @notice The next chunk of the winner's station contributions, after
            `report_training`; the chunk that lists the last station opens the Vote phase.
    @dev Each chunk is folded into the running `contributions_hash`, so that no
         transaction's gas grows with the number of stations.
    @param round_id The round, in its Train phase.
    @param contributions The next `min(remaining, REPORT_CHUNK)` contributions.
    """
    self._require_phase(round_id, PHASE_TRAIN)
    self._require_winner(round_id)
    progress: uint256 = self.report_progress[round_id]
    assert progress != 0, "hcfl: report not started"
    first: uint256 = progress - 1
    total: uint256 = self._count(round_id, ROLE_STATION)
    n: uint256 = len(contributions)
    assert n == min(total - first, REPORT_CHUNK), "hcfl: one contribution per station"
    self.contributions_hash[round_id] = keccak256(abi_encode(self.contributions_hash[round_id], contributions))
    self._store_contributions(round_id, first, contributions)
    self.report_progress[round_id] = progress + n
    log ContributionsReported(round_id=round_id, first=first, contributions=contributions)
    if first + n == total:
        self._finish_report(round_id)


@external
def vote(round_id: uint256, punish: bool):
    """
    @notice An owner other than the winner votes whether the winner's model misses its
            promised accuracy; a strict majority of them slashes the winner's bond.
    @dev The winner is kept out of the vote on its own bond; each owner votes once,
         marked by its `STATUS_VOTED` bit.
    @param round_id The round, in its Vote phase.
    @param punish True to punish.
    """
    self._require_phase(round_id, PHASE_VOTE)
    info: uint256 = self.participants[round_id][msg.sender].info
    assert info & INFO_ROLE_MASK == ROLE_OWNER, "hcfl: not an owner"
    wp1: uint256 = self.winner_plus_one[round_id]
    assert msg.sender != self.proposals[round_id][wp1 - 1].proposer, "hcfl: winner cannot vote"
    assert (info >> INFO_STATUS_SHIFT) & STATUS_VOTED == 0, "hcfl: already voted"
    self.participants[round_id][msg.sender].info = info | (STATUS_VOTED << INFO_STATUS_SHIFT)
    if punish:
        self.punish_votes[round_id] += 1
    log Voted(round_id=round_id, owner=msg.sender, punish=punish)


@external
def finalize(round_id: uint256):
    """
    @notice Ends the Vote phase: slashes the winner's bond to the pool when a strict
            majority of the other owners voted to punish, or when the winner never
            reported; releases it otherwise.
    @dev A slashed bond joins the pool and so subsidizes the next round; a released
         one waits for `withdraw_bond` (pull payment).
    @param round_id The round, in its Vote phase past the deadline.
    """
    sched: uint256 = self.schedule[round_id]
    assert sched & SCHEDULE_PHASE_MASK == PHASE_VOTE, "hcfl: not in vote phase"
    assert block.timestamp >= sched >> SCHEDULE_DEADLINE_SHIFT, "hcfl: phase not over"
    w: uint256 = self.winner_plus_one[round_id] - 1
    votes: uint256 = self.punish_votes[round_id]
    others: uint256 = self._count(round_id, ROLE_OWNER) - 1
    cut: bool = (not self.reported[round_id]) or 2 * votes > others
    if cut:
        self.proposals[round_id][w].bond_state = BOND_SLASHED
        self.slashed[round_id] = True
        self.pool_plus_one += self.proposals[round_id][w].bond
        log PoolChanged(round_id=round_id, pool=self.pool_plus_one - 1)
    else:
        self.proposals[round_id][w].bond_state = BOND_RELEASED
    self._enter(round_id, STAGE_FINALIZED)
    log Finalized(round_id=round_id, cancelled=False, slashed=cut, punish_votes=votes)


@external
@nonreentrant
def withdraw(round_id: uint256):
    """
    @notice Pays the caller its settled payout of a round (pull payment).
    @dev Checks, effects, then the transfer: the record is marked withdrawn and its
         amount zeroed before the call, and the function is `nonreentrant` as well.
    @param round_id The round.
    """
    self._withdraw(round_id, msg.sender)


@external
@nonreentrant
def withdraw_bond(round_id: uint256, index: uint256):
    """
    @notice Pays a proposer its released bond (pull payment).
    @dev Checks, effects, then the transfer: the bond is marked withdrawn before the
         call, and the function is `nonreentrant` as well.
    @param round_id The round.
    @param index The proposal.
    """
    assert self.proposals[round_id][index].proposer == msg.sender, "hcfl: not the proposer"
    assert self.proposals[round_id][index].bond_state == BOND_RELEASED, "hcfl: bond not released"
    amount: uint256 = self.proposals[round_id][index].bond
    self.proposals[round_id][index].bond_state = BOND_WITHDRAWN
    log BondWithdrawn(round_id=round_id, index=index, proposer=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


@external
def credit_bonus(round_id: uint256, who: address):
    """
    @notice Credits station `who` its bonus of a finalized round (SPEC section 9) to its
            payout, which it pulls with `withdraw`, whether or not it withdrew its
            settlement. Anyone may call it, once per station.
    @dev O(1): `bonus_pool * c_j // sum c` from the stored report, or
         `bonus_pool * u_j // U` when the report is missing or sums to 0; 0 for a
         station that did not reveal (it was charged at most its weight part). The bonus is
         added to the record's amount (the deposit if not yet settled, else the payout)
         and the withdrawn bit cleared, so that `withdraw` pays it. The credit of the
         round's last station moves what rounding left of the bonus pool to the
         recycle pool.
    @param round_id A finalized round of a deployment with a bonus.
    @param who The station.
    """
    assert BONUS_BPS > 0 and self._phase(round_id) == PHASE_FINALIZED, "hcfl: no bonus to credit"
    info: uint256 = self.participants[round_id][who].info
    assert info & (INFO_ROLE_MASK | (STATUS_BONUS << INFO_STATUS_SHIFT)) == ROLE_STATION, "hcfl: not a station, or credited"
    index: uint256 = (info >> INFO_INDEX_SHIFT) & INFO_INDEX_MASK
    part: uint256 = (info >> INFO_WEIGHT_SHIFT) & INFO_WEIGHT_MASK
    whole: uint256 = self._weight_sum(round_id, ROLE_STATION)
    if self.reported[round_id] and self.contribution_total[round_id] > 0:
        part = self.contribution[round_id][index]
        whole = self.contribution_total[round_id]
    if (info >> INFO_STATUS_SHIFT) & STATUS_REVEALED == 0:
        # a station that never revealed takes no bonus: its slice stays for the pool
        part = 0
    bonus: uint256 = self.bonus_pool[round_id] * part // whole
    self.participants[round_id][who].info = ((info | (STATUS_BONUS << INFO_STATUS_SHIFT)) & ~(STATUS_WITHDRAWN << INFO_STATUS_SHIFT)) + (
        bonus << INFO_AMOUNT_SHIFT
    )
    acc: uint256 = self.bonus_acc[round_id] - bonus + (1 << BONUS_COUNT_SHIFT)
    log BonusCredited(round_id=round_id, station=who, index=index, bonus=bonus)
    if acc >> BONUS_COUNT_SHIFT == self._count(round_id, ROLE_STATION):
        # the last credit: what rounding left of the bonus pool is dust
        self.pool_plus_one += acc & BONUS_LEFT_MASK
        acc = acc & ~BONUS_LEFT_MASK
        log PoolChanged(round_id=round_id, pool=self.pool_plus_one - 1)
    self.bonus_acc[round_id] = acc


@external
@view
def pool() -> uint256:
    """
    @notice The recycle pool: taxes, dust, penalties and slashed bonds, reserved as
            the next round's subsidy when that round starts.
    @dev Storage holds the pool plus one (`pool_plus_one`); this undoes the offset.
    @return The pool in wei.
    """
    return self.pool_plus_one - 1


@external
@view
def phase_seconds() -> uint256[6]:
    """
    @notice The phase lengths of this deployment: Register, Propose, Commit, Reveal,
            Train and Vote, in seconds, in the constructor's order.
    @dev Read out of the one packed immutable `PHASE_SECONDS`.
    @return The six lengths.
    """
    out: uint256[6] = empty(uint256[6])
    for k: uint256 in range(6):
        out[k] = (PHASE_SECONDS >> (k << 5)) & SECONDS_MASK
    return out


@external
@view
def phase(round_id: uint256) -> uint256:
    """
    @notice The phase of a round (1 Register, 2 Propose, 4 Commit, 8 Reveal, 16 Train,
            32 Vote, 64 Finalized; 0: no such round).
    @dev Read from the low bits of the packed `schedule` word.
    @param round_id The round.
    @return The phase.
    """
    return self._phase(round_id)


@external
@view
def deadline(round_id: uint256) -> uint256:
    """
    @notice When the current phase of a round ends (block timestamp).
    @dev Read from the high bits of the packed `schedule` word.
    @param round_id The round.
    @return The deadline.
    """
    return self.schedule[round_id] >> SCHEDULE_DEADLINE_SHIFT


@external
@view
def cancelled(round_id: uint256) -> bool:
    """
    @notice Whether a round ended without a choice (no owner, station or proposal).
    @dev Read from the `ACC_CANCELLED` bit of the packed `round_acc` word.
    @param round_id The round.
    @return True if cancelled.
    """
    return self.round_acc[round_id] & ACC_CANCELLED != 0


@external
@view
def participant(
    round_id: uint256, who: address
) -> (uint256, uint256, uint256, uint256, uint256, bytes32):
    """
    @notice A participant's record, unpacked.
    @dev Storage packs the record into its `info` word; this splits it into its
         fields for clients.
    @param round_id The round.
    @param who The participant.
    @return role (0 none, 1 owner, 2 station), status bits (1 revealed, 2 settled,
            4 withdrawn, 8 voted), index in its side, weight, amount (the deposit while
            unsettled, then the payout) and commitment.
    """
    info: uint256 = self.participants[round_id][who].info
    return (
        info & INFO_ROLE_MASK,
        (info >> INFO_STATUS_SHIFT) & INFO_STATUS_MASK,
        (info >> INFO_INDEX_SHIFT) & INFO_INDEX_MASK,
        (info >> INFO_WEIGHT_SHIFT) & INFO_WEIGHT_MASK,
        info >> INFO_AMOUNT_SHIFT,
        self.participants[round_id][who].commitment,
    )


@external
@view
def n_owners(round_id: uint256) -> uint256:
    """
    @notice How many owners registered in a round so far (the next owner's index).
    @dev Read from the low bits of the packed `owner_side` word.
    @param round_id The round.
    @return The count.
    """
    return self._count(round_id, ROLE_OWNER)


@external
@view
def n_stations(round_id: uint256) -> uint256:
    """
    @notice How many stations registered in a round so far (the next station's index).
    @dev Read from the low bits of the packed `station_side` word.
    @param round_id The round.
    @return The count.
    """
    return self._count(round_id, ROLE_STATION)


@external
@view
def owner_weight_sum(round_id: uint256) -> uint256:
    """
    @notice The sum W of a round's owner weights, the denominator of their cost shares.
    @dev Read from the packed `owner_side` word.
    @param round_id The round.
    @return W.
    """
    return self._weight_sum(round_id, ROLE_OWNER)


@external
@view
def station_weight_sum(round_id: uint256) -> uint256:
    """
    @notice The sum U of a round's station weights, the denominator of their rewards.
    @dev Read from the packed `station_side` word.
    @param round_id The round.
    @return U.
    """
    return self._weight_sum(round_id, ROLE_STATION)


@external
@view
def commitment_of(round_id: uint256, who: address, claims: DynArray[uint256, MAX_M], salt: bytes32) -> bytes32:
    """
    @notice The commitment `who` must send for `claims` and `salt` in round `round_id`.
    @dev The hash binds contract, round and sender, so that a commitment cannot be
         replayed in another deployment or round or by another account.
    @param round_id The round.
    @param who The participant.
    @param claims One claim per proposal.
    @param salt Any 32 secret bytes.
    @return keccak256(abi_encode(this contract, round_id, who, claims, salt)).
    """
    return self._commitment(round_id, who, claims, salt)


@external
@view
def welfare(round_id: uint256, index: uint256) -> int256:
    """
    @notice The welfare total S(m) of proposal `index` accumulated so far.
    @dev Storage holds `WELFARE_BIAS + S(m)` in one half of a `welfare_pair` word, so
         that the packed field stays unsigned when S(m) is negative; this removes the bias.
    @param round_id The round.
    @param index The proposal.
    @return S(m) = sum of owners' values - sum of stations' costs.
    """
    return self._welfare(round_id, index)


@external
@view
def budget(round_id: uint256, index: uint256) -> uint256:
    """
    @notice The budget C_m of proposal `index`.
    @dev Read from one half of the packed `budget_pair` word.
    @param round_id The round.
    @param index The proposal.
    @return C_m in wei.
    """
    return self._budget(round_id, index)


@external
@view
def held_float(round_id: uint256) -> int256:
    """
    @notice Money of a round held besides its deposits and bonds: the reserved subsidy
            before close; after it, the float (owner shares in, station rewards out, plus
            the subsidy used) until the last settlement sweeps it, plus the bonus pool
            not yet credited.
    @dev Negative while stations settled before owners; the owners' deposits still held
         cover it. Only the balance-equation checks need it.
    @param round_id The round.
    @return The amount in wei.
    """
    acc: uint256 = self.round_acc[round_id]
    if acc == 0:
        return convert(self.subsidy[round_id], int256)
    if acc & ACC_CANCELLED != 0:
        return 0
    return convert(acc >> ACC_FLOAT_SHIFT, int256) - convert(FLOAT_BIAS, int256) + convert(self.bonus_acc[round_id] & BONUS_LEFT_MASK, int256)


@internal
def _settle(round_id: uint256, who: address, claims: DynArray[uint256, MAX_M], salt: bytes32):
    """
    @dev The settlement of `settle`: tax, share and payout of `who` in O(M), the float
         and the pool updated, the dust swept by the round's last settlement.
    @param round_id A closed (or cancelled) round.
    @param who The participant.
    @param claims Its revealed claims, or none if it did not reveal.
    @param salt The salt of its commitment.
    """
    acc: uint256 = self.round_acc[round_id]
    assert acc != 0, "hcfl: round not closed"
    info: uint256 = self.participants[round_id][who].info
    role: uint256 = info & INFO_ROLE_MASK
    assert role != 0, "hcfl: not registered"
    status: uint256 = (info >> INFO_STATUS_SHIFT) & INFO_STATUS_MASK
    assert status & STATUS_SETTLED == 0, "hcfl: already settled"
    amount: uint256 = info >> INFO_AMOUNT_SHIFT
    index: uint256 = (info >> INFO_INDEX_SHIFT) & INFO_INDEX_MASK
    self.participants[round_id][who].info = info | (STATUS_SETTLED << INFO_STATUS_SHIFT)
    if acc & ACC_CANCELLED != 0:
        log Settled(
            round_id=round_id, participant=who, role=role, index=index, share=0, tax=0, penalty=0, payout=amount
        )
        return
    revealed: bool = status & STATUS_REVEALED != 0
    M: uint256 = (acc >> ACC_M_SHIFT) & ACC_M_MASK
    if revealed:
        assert len(claims) == M, "hcfl: one claim per proposal"
        assert (
            self._commitment(round_id, who, claims, salt) == self.participants[round_id][who].commitment
        ), "hcfl: claims do not match the commitment"
    else:
        assert len(claims) == 0, "hcfl: participant did not reveal"
    weight: uint256 = (info >> INFO_WEIGHT_SHIFT) & INFO_WEIGHT_MASK
    wp1: uint256 = (acc >> ACC_WINNER_SHIFT) & ACC_WINNER_MASK
    sub: uint256 = 0
    total_w: uint256 = self._weight_sum(round_id, role)
    if role == ROLE_OWNER:
        sub = self.subsidy[round_id]
    # tax = max(0, max_m S_-p(m)) - S_-p(x*), with S_-p(m) = S(m) - n_p(m)
    best: int256 = 0
    at_winner: int256 = 0
    share: uint256 = 0
    for m: uint256 in range(MAX_M):
        if m == M:
            break
        budget: uint256 = self._budget(round_id, m)
        claim: int256 = 0
        if revealed:
            claim = convert(claims[m], int256)
        sh: uint256 = 0
        net: int256 = 0
        if role == ROLE_OWNER:
            budget -= min(budget, sub)
            sh = self._ceil_div(budget * weight, total_w)
            net = claim - convert(sh, int256)
        else:
            sh = budget * weight // total_w
            net = convert(sh, int256) - claim
        others: int256 = self._welfare(round_id, m) - net
        best = max(best, others)
        if m + 1 == wp1:
            at_winner = others
            share = sh
            if role == ROLE_STATION and BONUS_BPS > 0:
                # the tax counts the nominal share; the station is paid its weight part now
                share = (budget - budget * BONUS_BPS // MAX_BPS) * weight // total_w
    tax: uint256 = convert(best - at_winner, uint256)
    payout: uint256 = 0
    if role == ROLE_OWNER:
        assert share + tax <= amount, "hcfl: owner deposit short"
        payout = unsafe_sub(amount, share + tax)
        acc += share << ACC_FLOAT_SHIFT
    else:
        if not revealed:
            # claiming zeros its tax is at most its nominal share, but with a bonus only the
            # weight part is paid now: a station that never revealed is charged at most
            # that, whatever its deposit (SPEC section 9), and takes no bonus
            tax = min(tax, share)
        assert tax <= amount + share, "hcfl: station deposit short"
        payout = unsafe_sub(amount + share, tax)
        acc -= share << ACC_FLOAT_SHIFT
    penalty: uint256 = 0
    if not revealed:
        penalty = min(NO_SHOW_PENALTY, payout)
        payout = unsafe_sub(payout, penalty)
    self.participants[round_id][who].info = ((info | (STATUS_SETTLED << INFO_STATUS_SHIFT)) & INFO_BELOW_AMOUNT_MASK) | (
        payout << INFO_AMOUNT_SHIFT
    )
    acc += 1
    to_pool: uint256 = tax + penalty
    if acc & ACC_SETTLED_MASK == (acc >> ACC_PARTICIPANTS_SHIFT) & ACC_PARTICIPANTS_MASK:
        # the last settlement of the round: what is left of the float is the dust
        dust: uint256 = (acc >> ACC_FLOAT_SHIFT) - FLOAT_BIAS
        to_pool += dust
        acc = (FLOAT_BIAS << ACC_FLOAT_SHIFT) | (acc & ACC_BELOW_FLOAT_MASK)
        log DustSwept(round_id=round_id, dust=dust)
    self.round_acc[round_id] = acc
    if to_pool > 0:
        self.pool_plus_one += to_pool
    log Settled(
        round_id=round_id, participant=who, role=role, index=index, share=share, tax=tax, penalty=penalty, payout=payout
    )


@internal
def _withdraw(round_id: uint256, who: address):
    """
    @dev Pays `who` its settled payout: checks, effects (marked withdrawn, amount zeroed),
         then the transfer; the external callers are `nonreentrant`.
    @param round_id The round.
    @param who The participant, always the caller.
    """
    info: uint256 = self.participants[round_id][who].info
    assert (info >> INFO_STATUS_SHIFT) & STATUS_SETTLED != 0, "hcfl: not settled"
    assert (info >> INFO_STATUS_SHIFT) & STATUS_WITHDRAWN == 0, "hcfl: already withdrawn"
    amount: uint256 = info >> INFO_AMOUNT_SHIFT
    # effects before the interaction: a reentrant call finds the payout gone
    self.participants[round_id][who].info = (info | (STATUS_WITHDRAWN << INFO_STATUS_SHIFT)) & INFO_BELOW_AMOUNT_MASK
    log Withdrawn(round_id=round_id, participant=who, amount=amount)
    if amount > 0:
        raw_call(who, b"", value=amount)


@internal
def _open_round(round_id: uint256):
    """
    @dev Makes `round_id` the current round, reserves the whole pool as its subsidy
         (announced in `RoundStarted` before registration closes) and opens its
         Register phase.
    @param round_id The new round.
    """
    self.current_round = round_id
    sub: uint256 = self.pool_plus_one - 1
    self.pool_plus_one = 1
    self.subsidy[round_id] = sub
    self.owner_side[round_id] = SIDE_OPEN
    self.station_side[round_id] = SIDE_OPEN
    self._enter(round_id, STAGE_REGISTER)
    log RoundStarted(round_id=round_id, deadline=self.schedule[round_id] >> SCHEDULE_DEADLINE_SHIFT, subsidy=sub)


@internal
def _enter(round_id: uint256, stage: uint256):
    """
    @dev Moves a round to phase `1 << stage` with its deadline that phase's length
         from now (none for Finalized), in the one packed `schedule` slot.
    @param round_id The round.
    @param stage The new phase's position (`STAGE_*`).
    """
    p: uint256 = 1 << stage
    deadline: uint256 = block.timestamp + ((PHASE_SECONDS >> (stage << 5)) & SECONDS_MASK)
    self.schedule[round_id] = p | (deadline << SCHEDULE_DEADLINE_SHIFT)
    log PhaseChanged(round_id=round_id, phase=p, deadline=deadline)


@internal
def _cancel(round_id: uint256):
    """
    @dev Ends a round without a choice (no owner, station or proposal): the reserved
         subsidy goes back to the pool, every bond is released, and every deposit
         goes back through `settle` (which pays it out untouched once `ACC_CANCELLED`
         is set).
    @param round_id The round.
    """
    self.round_acc[round_id] = ACC_CANCELLED
    sub: uint256 = self.subsidy[round_id]
    if sub > 0:
        self.subsidy[round_id] = 0
        self.pool_plus_one += sub
        log PoolChanged(round_id=round_id, pool=self.pool_plus_one - 1)
    M: uint256 = self.n_proposals[round_id]
    for m: uint256 in range(MAX_M):
        if m == M:
            break
        self.proposals[round_id][m].bond_state = BOND_RELEASED
    self._enter(round_id, STAGE_FINALIZED)
    log Finalized(round_id=round_id, cancelled=True, slashed=False, punish_votes=0)


@internal
@view
def _phase(round_id: uint256) -> uint256:
    """
    @dev Reads a round's phase from its packed `schedule` word.
    @param round_id The round.
    @return The phase (`PHASE_*`; 0: no such round).
    """
    return self.schedule[round_id] & SCHEDULE_PHASE_MASK


@internal
@view
def _side(round_id: uint256, role: uint256) -> uint256:
    """
    @dev The packed side word of one side of a round (see `SIDE_*`).
    @param round_id The round.
    @param role `ROLE_OWNER` or `ROLE_STATION`.
    @return `count | weight sum << 32 | SIDE_OPEN`.
    """
    if role == ROLE_OWNER:
        return self.owner_side[round_id]
    return self.station_side[round_id]


@internal
@view
def _count(round_id: uint256, role: uint256) -> uint256:
    """
    @dev How many registered on one side of a round, from its packed side word.
    @param round_id The round.
    @param role `ROLE_OWNER` or `ROLE_STATION`.
    @return The count.
    """
    return self._side(round_id, role) & SIDE_COUNT_MASK


@internal
@view
def _weight_sum(round_id: uint256, role: uint256) -> uint256:
    """
    @dev The weight sum of one side of a round (W of the owners, U of the stations),
         from its packed side word.
    @param round_id The round.
    @param role `ROLE_OWNER` or `ROLE_STATION`.
    @return The sum of that side's registered weights.
    """
    return (self._side(round_id, role) >> SIDE_WEIGHT_SHIFT) & HALF_MASK


@internal
@view
def _welfare(round_id: uint256, m: uint256) -> int256:
    """
    @dev The welfare total S(m), unbiased, from its half of a `welfare_pair` word.
    @param round_id The round.
    @param m The proposal.
    @return S(m).
    """
    return convert((self.welfare_pair[round_id][m >> 1] >> ((m & 1) << 7)) & HALF_MASK, int256) - convert(
        WELFARE_BIAS, int256
    )


@internal
@view
def _budget(round_id: uint256, m: uint256) -> uint256:
    """
    @dev The budget C_m, from its half of a `budget_pair` word.
    @param round_id The round.
    @param m The proposal.
    @return C_m in wei.
    """
    return (self.budget_pair[round_id][m >> 1] >> ((m & 1) << 7)) & HALF_MASK


@internal
@view
def _require_phase(round_id: uint256, p: uint256):
    """
    @dev Throws unless the round is in phase `p` and that phase's deadline has not
         passed.
    @param round_id The round.
    @param p The required phase (`PHASE_*`).
    """
    sched: uint256 = self.schedule[round_id]
    assert sched & SCHEDULE_PHASE_MASK == p, "hcfl: wrong phase"
    assert block.timestamp < sched >> SCHEDULE_DEADLINE_SHIFT, "hcfl: deadline passed"


@internal
def _require_winner(round_id: uint256):
    """
    @dev Throws unless the caller proposed the round's winner. Only called in the
         Train phase, which a round reaches only when `close` chose a winner, so
         `winner_plus_one` is nonzero here.
    @param round_id The round.
    """
    wp1: uint256 = self.winner_plus_one[round_id]
    assert msg.sender == self.proposals[round_id][wp1 - 1].proposer, "hcfl: not the winner"


@internal
def _finish_report(round_id: uint256):
    """
    @dev Marks the training report complete and opens the Vote phase; called by the
         report transaction that lists the last station.
    @param round_id The round.
    """
    self.reported[round_id] = True
    self._enter(round_id, STAGE_VOTE)


@internal
def _store_contributions(round_id: uint256, first: uint256, contributions: DynArray[uint256, REPORT_CHUNK]):
    """
    @dev With a bonus on, stores one report chunk's contributions by station index and
         adds them to the round's sum; at most `REPORT_CHUNK` writes, so no report
         transaction's gas grows with the number of stations.
    @param round_id The round.
    @param first The index of the chunk's first station.
    @param contributions The chunk.
    """
    if BONUS_BPS == 0:
        return
    total: uint256 = 0
    for k: uint256 in range(REPORT_CHUNK):
        if k == len(contributions):
            break
        c: uint256 = contributions[k]
        assert c <= MAX_AMOUNT, "hcfl: contribution out of range"
        if c > 0:
            self.contribution[round_id][first + k] = c
            total += c
    self.contribution_total[round_id] += total


@internal
@pure
def _ceil_div(a: uint256, b: uint256) -> uint256:
    """
    @dev Division rounding up, so that owners' cost shares together cover the budget.
         Callers pass `b > 0` and `a + b` far below 2**256.
    @param a The dividend.
    @param b The divisor.
    @return `ceil(a / b)`.
    """
    return (a + b - 1) // b


@internal
@view
def _commitment(round_id: uint256, who: address, claims: DynArray[uint256, MAX_M], salt: bytes32) -> bytes32:
    """
    @dev The commitment hash of `commitment_of`, shared with `reveal` and `settle`.
    @param round_id The round.
    @param who The participant.
    @param claims One claim per proposal.
    @param salt The salt.
    @return keccak256(abi_encode(this contract, round_id, who, claims, salt)).
    """
    return keccak256(abi_encode(self, round_id, who, claims, salt))
