# pragma version ~=0.4.3
"""
@title HCFL training report and vote: the part of a round that holds no money
@custom:contract-name HCFLTraining
@license MIT
@notice The winner's training report (the trained model's hash and URI, its achieved
        accuracy and every station's measured contribution) and the owners' vote on the
        trained model (SPEC section 5 steps 6 and 7), for every round of one HCFL
        deployment. The HCFL contract creates it in its own constructor and is the only
        contract it trusts (`HCFL`): for a round's phase and deadline, its winner, its
        stations and its owners; it tells HCFL when the report is complete, which opens
        the Vote phase. HCFL reads the report and the tally back when it finalizes a
        round and credits the station bonus.
@dev Kept apart from HCFL so that each contract's code stays well within EIP-170: nothing
     here holds or moves money, so HCFL trusts it only for data it could check itself.
     No function loops over participants: a report arrives in chunks of `REPORT_CHUNK`
     contributions, each folded into a running hash, and each vote is O(1).
"""


# @dev What HCFL tells this contract about a round, and the one call it takes from it.
interface HCFLRound:
    def round_context(round_id: uint256, who: address) -> (uint256, address, uint256, uint256): view
    def report_done(round_id: uint256): nonpayable


# @dev HCFL's Train phase, in which the winner reports (HCFL's `PHASE_TRAIN`).
PHASE_TRAIN: constant(uint256) = 16


# @dev HCFL's Vote phase, in which the other owners vote (HCFL's `PHASE_VOTE`).
PHASE_VOTE: constant(uint256) = 32


# @dev HCFL's role number of a model owner (HCFL's `ROLE_OWNER`).
ROLE_OWNER: constant(uint256) = 1


# @dev Low bits of HCFL's `schedule` word: the phase (HCFL's `SCHEDULE_PHASE_MASK`).
SCHEDULE_PHASE_MASK: constant(uint256) = 2**8 - 1


# @dev The deadline's position in HCFL's `schedule` word (HCFL's `SCHEDULE_DEADLINE_SHIFT`).
SCHEDULE_DEADLINE_SHIFT: constant(uint256) = 8


# @dev The role's bits of HCFL's participant `info` word (HCFL's `INFO_ROLE_MASK`).
INFO_ROLE_MASK: constant(uint256) = 2**8 - 1


# @dev The index's position in HCFL's participant `info` word (HCFL's `INFO_INDEX_SHIFT`).
INFO_INDEX_SHIFT: constant(uint256) = 16


# @dev The index's width in HCFL's participant `info` word (HCFL's `INFO_INDEX_MASK`).
INFO_INDEX_MASK: constant(uint256) = 2**32 - 1


# @dev Most contributions in one training-report transaction. A longer list arrives in
#      several chunks of this size, each folded into a running hash, so that no
#      transaction's gas grows with the number of stations.
REPORT_CHUNK: constant(uint256) = 64


# @dev Largest contribution in a bonus deployment (SPEC section 1's largest amount).
MAX_AMOUNT: constant(uint256) = 2**96 - 1


# @dev Most proposals in one round (HCFL's `MAX_M`).
MAX_M: constant(uint256) = 32


# @dev Largest basis-point figure (100 %).
MAX_BPS: constant(uint256) = 10_000


# @dev Longest URI of a trained model.
MAX_URI: constant(uint256) = 256


# @dev The HCFL contract of this deployment: the only contract this one trusts.
HCFL: public(immutable(address))


# @dev Whether the deployment has a station bonus (SPEC section 9); only then is every
#      contribution stored, for HCFL's `credit_bonus`.
BONUS_ON: public(immutable(bool))


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
#      it HCFL's `finalize` slashes the winner's bond.
reported: public(HashMap[uint256, bool])


# @dev Per round and station index: the reported contribution, stored only when a
#      bonus is on (each report chunk writes at most `REPORT_CHUNK` of them).
contribution: HashMap[uint256, HashMap[uint256, uint256]]


# @dev Per round: the sum of the reported contributions (with a bonus on).
contribution_total: HashMap[uint256, uint256]


# @dev Per round: number of owners that voted to punish the winner.
punish_votes: public(HashMap[uint256, uint256])


# @dev Per round and `index // 256`: one bit per owner index that voted, so that a
#      round's later voters update a word their predecessors already made nonzero.
voted_bits: HashMap[uint256, HashMap[uint256, uint256]]


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


@deploy
def __init__(hcfl: address, bonus_on: bool):
    """
    @notice Binds this contract to the HCFL contract that creates it.
    @dev Called from HCFL's constructor, whose code is not on chain yet: nothing here
         calls it.
    @param hcfl The HCFL contract (the creator).
    @param bonus_on Whether the deployment has a station bonus.
    """
    HCFL = hcfl
    BONUS_ON = bonus_on


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
         and their sum (for HCFL's `credit_bonus`); the events carry them in full. With
         more stations than `REPORT_CHUNK`, `report_contributions` sends the rest.
    @param round_id The round, in its Train phase.
    @param model_hash sha256 of the trained model file.
    @param model_uri Where the model file can be fetched (a path or an http(s) URL).
    @param accuracy_bps Achieved accuracy in basis points (<= 10000).
    @param contributions Measured contributions of the first stations.
    """
    total: uint256 = self._require_winner(round_id)
    assert accuracy_bps <= MAX_BPS, "hcfl: accuracy over 10000 bps"
    assert self.report_progress[round_id] == 0, "hcfl: report already started"
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
    total: uint256 = self._require_winner(round_id)
    progress: uint256 = self.report_progress[round_id]
    assert progress != 0, "hcfl: report not started"
    first: uint256 = progress - 1
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
            promised accuracy; a strict majority of them slashes the winner's bond
            (HCFL's `finalize`).
    @dev The winner is kept out of the vote on its own bond; each owner votes once,
         marked by its bit in `voted_bits`.
    @param round_id The round, in its Vote phase.
    @param punish True to punish.
    """
    sched: uint256 = 0
    winner: address = empty(address)
    stations: uint256 = 0
    info: uint256 = 0
    sched, winner, stations, info = staticcall HCFLRound(HCFL).round_context(round_id, msg.sender)
    self._require_phase(sched, PHASE_VOTE)
    assert info & INFO_ROLE_MASK == ROLE_OWNER, "hcfl: not an owner"
    assert msg.sender != winner, "hcfl: winner cannot vote"
    index: uint256 = (info >> INFO_INDEX_SHIFT) & INFO_INDEX_MASK
    bit: uint256 = 1 << (index & 255)
    bits: uint256 = self.voted_bits[round_id][index >> 8]
    assert bits & bit == 0, "hcfl: already voted"
    self.voted_bits[round_id][index >> 8] = bits | bit
    if punish:
        self.punish_votes[round_id] += 1
    log Voted(round_id=round_id, owner=msg.sender, punish=punish)


@external
@view
def verdict(round_id: uint256) -> (bool, uint256):
    """
    @notice What HCFL's `finalize` decides on: whether the report is complete, and how
            many owners voted to punish.
    @param round_id The round.
    @return Whether the winner listed every station, and the punish votes.
    """
    return self.reported[round_id], self.punish_votes[round_id]


@external
@view
def bonus_share(round_id: uint256, index: uint256) -> (uint256, uint256):
    """
    @notice A station's reported contribution and the round's sum of them, the fraction
            of the bonus pool HCFL's `credit_bonus` pays it.
    @dev `(0, 0)` when the report is incomplete or sums to 0 (or the deployment has no
         bonus): HCFL then splits the pool by registered weight.
    @param round_id The round.
    @param index The station's index.
    @return The contribution and the sum.
    """
    whole: uint256 = self.contribution_total[round_id]
    if not self.reported[round_id] or whole == 0:
        return 0, 0
    return self.contribution[round_id][index], whole


@external
@view
def commitment_of(round_id: uint256, who: address, claims: DynArray[uint256, MAX_M], salt: bytes32) -> bytes32:
    """
    @notice The commitment `who` must send to HCFL's `commit` for `claims` and `salt` in
            round `round_id`.
    @dev The hash binds the HCFL contract, round and sender, so that a commitment cannot
         be replayed in another deployment or round or by another account; HCFL's
         `reveal` and `settle` check exactly this hash.
    @param round_id The round.
    @param who The participant.
    @param claims One claim per proposal.
    @param salt Any 32 secret bytes.
    @return keccak256(abi_encode(HCFL, round_id, who, claims, salt)).
    """
    return keccak256(abi_encode(HCFL, round_id, who, claims, salt))


@external
@view
def has_voted(round_id: uint256, index: uint256) -> bool:
    """
    @notice Whether owner `index` of a round voted.
    @param round_id The round.
    @param index The owner's index in its side.
    @return True once it voted.
    """
    return (self.voted_bits[round_id][index >> 8] >> (index & 255)) & 1 == 1


@internal
@view
def _require_phase(sched: uint256, p: uint256):
    """
    @dev Throws unless HCFL's `schedule` word `sched` is in phase `p` before its deadline.
    @param sched The round's schedule word, from HCFL.
    @param p The required phase.
    """
    assert sched & SCHEDULE_PHASE_MASK == p, "hcfl: wrong phase"
    assert block.timestamp < sched >> SCHEDULE_DEADLINE_SHIFT, "hcfl: deadline passed"


@internal
@view
def _require_winner(round_id: uint256) -> uint256:
    """
    @dev Throws unless the round is in its Train phase and the caller proposed its winner.
    @param round_id The round.
    @return The number of stations of the round.
    """
    sched: uint256 = 0
    winner: address = empty(address)
    stations: uint256 = 0
    info: uint256 = 0
    sched, winner, stations, info = staticcall HCFLRound(HCFL).round_context(round_id, msg.sender)
    self._require_phase(sched, PHASE_TRAIN)
    assert msg.sender == winner, "hcfl: not the winner"
    return stations


@internal
def _finish_report(round_id: uint256):
    """
    @dev Marks the training report complete and has HCFL open the Vote phase; called by
         the report transaction that lists the last station.
    @param round_id The round.
    """
    self.reported[round_id] = True
    extcall HCFLRound(HCFL).report_done(round_id)


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
    if not BONUS_ON:
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
