# pragma version ~=0.4.3
"""
@title Plain commit-reveal sealed-bid auction
@notice The gas baseline of `python -m benchmarks.gas`: what one bidder pays to take part
        in the simplest sealed-bid auction (commit with a deposit, reveal, withdraw), deployed
        on the same node in the same run as HCFL. Not part of HCFL.
@dev Written for the comparison only: one bid per address, the highest revealed bid wins,
     every deposit but the winner's bid is pulled back after the reveal phase.
"""

# @dev When the commit phase ends (block timestamp).
COMMIT_END: public(immutable(uint256))


# @dev When the reveal phase ends (block timestamp).
REVEAL_END: public(immutable(uint256))


# @dev One bidder: its sealed bid and its deposit (what it may pull back).
struct Bidder:
    commitment: bytes32
    deposit: uint256


# @dev Bidder records by address.
bidders: public(HashMap[address, Bidder])


# @dev The highest revealed bid so far.
best_bid: public(uint256)


# @dev Who revealed it.
best_bidder: public(address)


# @dev A sealed bid and its deposit arrived.
event Committed:
    bidder: indexed(address)
    commitment: bytes32
    deposit: uint256


# @dev A bid was opened.
event Revealed:
    bidder: indexed(address)
    bid: uint256
    salt: bytes32


# @dev A bidder pulled back its deposit (less its bid if it won).
event Withdrawn:
    bidder: indexed(address)
    amount: uint256


@deploy
def __init__(commit_seconds: uint256, reveal_seconds: uint256):
    """
    @notice Opens the commit phase now.
    @param commit_seconds Length of the commit phase.
    @param reveal_seconds Length of the reveal phase.
    """
    COMMIT_END = block.timestamp + commit_seconds
    REVEAL_END = COMMIT_END + reveal_seconds


@external
@payable
def commit(commitment: bytes32):
    """
    @notice Seals the caller's bid, `keccak256(abi_encode(this, msg.sender, bid, salt))`,
            with `msg.value` as its deposit.
    @param commitment The sealed bid.
    """
    assert block.timestamp < COMMIT_END, "auction: commit phase over"
    assert msg.value > 0, "auction: zero deposit"
    assert self.bidders[msg.sender].deposit == 0, "auction: already bid"
    self.bidders[msg.sender] = Bidder(commitment=commitment, deposit=msg.value)
    log Committed(bidder=msg.sender, commitment=commitment, deposit=msg.value)


@external
def reveal(bid: uint256, salt: bytes32):
    """
    @notice Opens the caller's sealed bid.
    @param bid The bid, at most the deposit.
    @param salt The salt of the commitment.
    """
    assert block.timestamp >= COMMIT_END and block.timestamp < REVEAL_END, "auction: not in reveal phase"
    assert keccak256(abi_encode(self, msg.sender, bid, salt)) == self.bidders[msg.sender].commitment, "auction: no match"
    assert bid <= self.bidders[msg.sender].deposit, "auction: bid over deposit"
    self.bidders[msg.sender].commitment = empty(bytes32)
    if bid > self.best_bid:
        self.best_bid = bid
        self.best_bidder = msg.sender
    log Revealed(bidder=msg.sender, bid=bid, salt=salt)


@external
@nonreentrant
def withdraw():
    """
    @notice Pays the caller its deposit back, less its bid if it won (pull payment).
    """
    assert block.timestamp >= REVEAL_END, "auction: reveal phase not over"
    amount: uint256 = self.bidders[msg.sender].deposit
    if msg.sender == self.best_bidder:
        amount -= self.best_bid
    self.bidders[msg.sender].deposit = 0
    log Withdrawn(bidder=msg.sender, amount=amount)
    send(msg.sender, amount)
