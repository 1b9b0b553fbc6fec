"""Closed-loop TCP sources and sinks: senders whose packets depend on what arrived.

Open-loop workloads send whatever the scheduler does; a TCP sender sends what
its congestion window allows, and learns of drops, delay and ECN marks only
through the ACKs that come back. :class:`TcpAgent` holds the senders and
receivers of a run's TCP flows and the events between them (a small heap:
segments on their way to the bottleneck, deliveries, ACKs on the way back,
timers). ``xdpq.sim.run.Simulation`` asks it for its next event's time, takes
the segments it sends as arrivals into the scheduler, and tells it of each
segment the link delivers (with whether the scheduler marked it CE); drops it
need not be told of, as a real sender is not.

The model, per flow (what a Linux sender and receiver do, simplified; the
simulator documentation lists what it leaves out):

- **Path.** Half the flow's base RTT before the bottleneck, the link's own
  propagation after it, the other half on the way back. ACKs travel an
  uncongested reverse path: never queued, never lost.
- **Segments** are counted in MSS-sized units (the last one of a finite flow
  may be shorter); a frame is the payload plus Ethernet, IP and TCP headers
  with timestamps (66 bytes over IPv4: a 1448-byte MSS makes 1514-byte frames).
- **Receiver.** Cumulative ACKs with SACK (every segment received is reported:
  ACKs are never lost, so that is exactly what SACK blocks would say); delayed
  ACKs as Linux's: an ACK for every second full segment, else after ``delack``,
  at once for the first 16 segments (quick ACKs), for out-of-order data and for
  data that fills a hole. Timestamps: each ACK echoes the send time of the
  earliest segment it acknowledges, so every ACK is an RTT sample for the
  estimators; CUBIC's own sample is the newest segment's, as Linux's.
- **Loss detection** as Linux's RACK where no reordering is seen: a segment is
  lost once a segment sent after it has been delivered and either three
  segments are SACKed (the duplicate-ACK threshold) or recovery is already
  under way (which also finds lost retransmissions). The retransmission
  timeout (RFC 6298 estimators) is ``srtt + max(4 rttvar, min_rto)`` as Linux
  computes it, doubling on each timeout; on expiry cwnd is 1 and every
  segment not SACKed is lost.
- **Recovery** (RFC 6675): cwnd drops to ssthresh at once; segments go while
  the pipe (Linux's packets in flight: outstanding less SACKed and lost, plus
  retransmitted) is below cwnd, retransmissions first; it ends when the
  cumulative ACK passes what was outstanding at its start. One reduction per
  window of data, for losses and ECN alike.
- **Congestion control.** NewReno (RFC 5681: slow start, +1 segment per RTT,
  β = 0.5); CUBIC (RFC 9438: β = 0.7, C = 0.4, fast convergence, the
  Reno-friendly region, t + min RTT as Linux uses; HyStart as Linux 6.18's
  hystart_update(), by ACK trains and by delay, ends slow start); DCTCP (RFC
  8257: α over the marked fraction per window, g = 1/16, cwnd × (1 − α/2) once
  per window; Reno's increase and a loss's halving). cwnd grows only while it
  limits the sender (in slow start: to twice what was in flight, as Linux's).
- **ECN.** ``classic`` (RFC 3168): ECT(0); the receiver sets ECE on its ACKs
  from a CE mark until it sees CWR; the sender reduces as for a loss, once per
  window, and sets CWR on its next new segment. ``l4s`` (RFC 8311, RFC 9331):
  ECT(1), and the receiver echoes how many segments carried CE (as AccECN
  does), ACKing at once when the CE state changes; meant for DCTCP.
- **Receive window**: at most ``rwnd`` bytes beyond the cumulative ACK; with
  ``rwnd_init``, Linux's autotuning from that window (see ``_Flow.autotune``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from xdpq.sim.run import FlowPacket
from xdpq.sim.workload import flow_packet

NS = 1_000_000_000
NEVER = 1 << 80
IPPROTO_TCP = 6
TCP_PORT = 5201  # the receivers' port (iperf3's)
DUPTHRESH = 3
QUICKACKS = 16  # Linux's TCP_MAX_QUICKACKS
INITIAL_RTO_NS = 1_000_000_000
MAX_RTO_NS = 120 * NS


def frame_overhead(ip: int) -> int:
    """Bytes of a TCP segment's frame beyond its payload: Ethernet, IP, TCP with the
    timestamp option."""
    return 14 + (40 if ip == 6 else 20) + 32


class Cc(Enum):
    NEWRENO = "newreno"
    CUBIC = "cubic"
    DCTCP = "dctcp"


class Ecn(Enum):
    OFF = "off"
    CLASSIC = "classic"  # RFC 3168: ECT(0), ECE until CWR
    L4S = "l4s"  # RFC 8311 / RFC 9331: ECT(1), every CE mark echoed


ECN_FIELD = {Ecn.OFF: 0, Ecn.CLASSIC: 2, Ecn.L4S: 1}
MS = 1_000_000


@dataclass(frozen=True)
class TcpSpec:
    """One TCP flow: a sender and its receiver."""

    flow: int  # the flow number (also its connection: source port 1024 + flow)
    cc: Cc = Cc.CUBIC
    rtt_ns: int = 20 * MS  # base round trip beside the link: half each way
    start_ns: int = 0
    size: int = 0  # payload bytes to send; 0: without end
    stop_ns: int = NEVER  # no new data at or after it
    mss: int = 1448
    ecn: Ecn = Ecn.OFF
    rwnd: int = 3 * 1024 * 1024  # bytes beyond the cumulative ACK (with rwnd_init: at most)
    # Linux's receive-window autotuning from this window (bytes; its window_clamp at
    # the start, tcp_rmem[1] times the receiver's truesize ratio); 0: rwnd throughout.
    rwnd_init: int = 0
    init_cwnd: int = 10
    min_rto_ns: int = 200 * MS
    delack_ns: int = 40 * MS  # 0: an ACK for every segment
    hystart: bool = True  # CUBIC only
    dscp: int = 0
    ip: int = 4
    weight: float = 1.0  # in Jain's index
    # Each segment reaches the link up to this much later than its flow's delay says
    # (uniform, from a generator seeded by ``seed``; never before the segment sent
    # before it): a host's processing time, which breaks the phase effects that a
    # deterministic simulation of drop-tail queues otherwise has (Floyd and Jacobson,
    # "On traffic phase effects in packet-switched gateways", 1991).
    jitter_ns: int = 0
    seed: int = 0


@dataclass
class TcpStats:
    """What one flow did: its receiver's goodput, its sender's retransmissions and
    reductions, and samples over time."""

    flow: int
    cc: str
    rtt_ns: int
    start_ns: int
    size: int
    bytes_delivered: int  # in order, to the receiving application
    goodput_bps: float  # bytes_delivered over the time from start to completion or the end
    segments_sent: int
    retransmits: int
    timeouts: int
    loss_events: int  # reductions for losses (recoveries and timeouts)
    ecn_events: int  # reductions for ECN marks
    ce_received: int  # segments that arrived CE-marked
    fct_ns: int  # start to the last byte received; 0 if it did not complete
    min_rtt_ns: int  # the least RTT sample
    srtt_p50_ns: int
    srtt_p99_ns: int
    # (time, cwnd in segments, smoothed RTT in ns, bytes acknowledged), sampled
    samples: list[tuple[int, float, int, int]] = field(default_factory=list, repr=False)


# Sender states (Linux's names).
OPEN, CWR, RECOVERY, LOSS = range(4)
# Events.
ARRIVE, DELIVER, ACK, DELACK, RTO, START = range(6)

CUBIC_C, CUBIC_BETA = 0.4, 0.7
CUBIC_ALPHA = 3 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA)
DCTCP_G = 1 / 16
HYSTART_LOW_WINDOW = 16
HYSTART_MIN_SAMPLES = 8
HYSTART_ACK_DELTA_NS = 2 * MS
HYSTART_ACK_DELAY_NS = MS  # Linux's hystart_ack_delay() at most
HYSTART_DELAY_MIN_NS, HYSTART_DELAY_MAX_NS = 4 * MS, 16 * MS


class _Flow:
    """A sender and its receiver."""

    def __init__(self, spec: TcpSpec, agent: TcpAgent, sample_ns: int) -> None:
        self.spec, self.agent = spec, agent
        self.beta = CUBIC_BETA if spec.cc is Cc.CUBIC else 0.5
        self.d_fwd = spec.rtt_ns // 2
        self.d_rev = spec.rtt_ns - self.d_fwd
        over = frame_overhead(spec.ip)
        self.nsegs = -(-spec.size // spec.mss) if spec.size else NEVER
        last = spec.size - (self.nsegs - 1) * spec.mss if spec.size else spec.mss
        ecn = ECN_FIELD[spec.ecn]
        self.full = flow_packet(spec.flow, spec.mss + over, spec.dscp, ip=spec.ip,
                                proto=IPPROTO_TCP, dport=TCP_PORT, ecn=ecn)
        self.last = flow_packet(spec.flow, last + over, spec.dscp, ip=spec.ip,
                                proto=IPPROTO_TCP, dport=TCP_PORT, ecn=ecn)
        self.last_payload = last
        # The receive window (Linux's window_clamp and rcv_ssthresh, in bytes), and the
        # right edge the receiver last advertised (a segment number), which the sender
        # may not send beyond.
        self.rcv_clamp = min(spec.rwnd_init, spec.rwnd) if spec.rwnd_init else spec.rwnd
        self.rcv_ssthresh = self.rcv_clamp
        self.rcv_right = self.snd_right = max(1, self.rcv_clamp // spec.mss)
        self.drs_space = spec.init_cwnd * spec.mss  # rcvq_space.space
        self.drs_time = -1  # rcvq_space.time: when the receiver's measure began
        self.drs_seq = 0  # rcvq_space.seq: the bytes read by then
        self.rng = random.Random(spec.seed) if spec.jitter_ns else None
        self.last_arrival = 0  # of the last segment sent, at the link
        # sender
        self.state = OPEN
        self.snd_una = self.snd_nxt = 0
        self.cwnd = float(spec.init_cwnd)
        self.ssthresh = math.inf
        self.recover = 0  # the end of the window a reduction covers
        self.sacked: set[int] = set()
        self.lost: set[int] = set()
        self.retrans: set[int] = set()
        self.retx: deque[int] = deque()  # lost segments to retransmit, in order
        self.txq: deque[tuple[int, int]] = deque()  # (transmission, segment), in send order
        self.last_tx: dict[int, int] = {}  # outstanding segment -> its latest transmission
        self.txid = 0
        self.cwnd_limited = False
        self.max_out = 0  # Linux's max_packets_out: the most in flight this window
        self.usage_end = 0  # cwnd_usage_seq: where that window ends
        self.cwr_pending = False
        self.srtt = self.rttvar = 0
        self.min_rtt = NEVER
        self.rto = INITIAL_RTO_NS
        self.backoff = 1
        self.rto_at = NEVER  # when the timer expires (NEVER: off)
        self.rto_event = NEVER  # when the pending RTO event fires
        # CUBIC
        self.w_max = 0.0
        self.k = 0.0
        self.epoch = -1
        self.w_est = 0.0
        self.delay_min = NEVER  # CUBIC's (Linux's ca->delay_min): its own RTT samples' least
        # HyStart (Linux's): the round as bictcp_hystart_reset() starts it
        self.hs_found = not (spec.hystart and spec.cc is Cc.CUBIC)
        self.hs_round_end = 0
        self.hs_round_start = self.hs_last_ack = 0
        self.hs_curr_rtt = NEVER
        self.hs_samples = 0
        self.ever_retx: set[int] = set()  # outstanding segments sent more than once (Karn)
        # DCTCP
        self.alpha = 1.0
        self.dc_acked = self.dc_marked = 0
        self.dc_window_end = 0
        # receiver
        self.rcv_nxt = 0
        self.ooo: set[int] = set()
        # (segment, transmission, its send time) since the last ACK
        self.news: list[tuple[int, int, int]] = []
        self.unacked = 0
        self.ts_echo = -1
        self.ece = False
        self.ce_count = 0  # CE marks since the last ACK (l4s)
        self.last_ce = False
        self.quick = QUICKACKS
        self.delack_gen = 0
        self.delack_armed = False
        # results
        self.sample_ns = sample_ns
        self.next_sample = spec.start_ns
        self.samples: list[tuple[int, float, int, int]] = []
        self.srtts: list[int] = []
        self.sent = self.retransmits = self.timeouts = 0
        self.loss_events = self.ecn_events = self.ce_received = 0
        self.delivered = 0  # bytes in order at the receiver
        self.done_at = 0

    # -- sender ------------------------------------------------------------------------

    def payload(self, seg: int) -> int:
        return self.last_payload if seg == self.nsegs - 1 else self.spec.mss

    def in_flight(self) -> int:
        return (self.snd_nxt - self.snd_una - len(self.sacked) - len(self.lost)
                + len(self.retrans))

    def transmit(self, now: int, seg: int, new: bool) -> None:
        self.txid += 1
        self.txq.append((self.txid, seg))
        self.last_tx[seg] = self.txid
        self.sent += 1
        cwr = new and self.cwr_pending  # CWR goes on the next new segment
        if cwr:
            self.cwr_pending = False
        at = now + self.d_fwd
        if self.rng is not None:
            at = max(at + self.rng.randrange(self.spec.jitter_ns), self.last_arrival)
            self.last_arrival = at
        self.agent.push(at, ARRIVE, self, (self, seg, self.txid, now, cwr))
        if self.rto_at == NEVER:
            self.arm_rto(now)

    def send(self, now: int) -> None:
        """Send what the window allows: lost segments first, then new data."""
        cwnd = int(self.cwnd)
        self.cwnd_limited = False
        while True:
            if self.in_flight() >= cwnd:
                self.cwnd_limited = True
                self.note_usage()
                return
            if self.retx:
                seg = self.retx.popleft()
                if seg < self.snd_una or seg not in self.lost or seg in self.retrans:
                    continue
                self.retrans.add(seg)
                self.ever_retx.add(seg)
                self.retransmits += 1
                self.transmit(now, seg, False)
                continue
            seg = self.snd_nxt
            if seg >= self.nsegs or now >= self.spec.stop_ns or seg >= self.snd_right:
                self.note_usage()
                return
            self.snd_nxt = seg + 1
            self.transmit(now, seg, True)

    def note_usage(self) -> None:
        """Linux's tcp_cwnd_validate(): the most segments in flight over a window."""
        out = self.in_flight()
        if self.snd_una >= self.usage_end or out > self.max_out:
            self.max_out = out
            self.usage_end = self.snd_nxt

    def arm_rto(self, now: int) -> None:
        self.rto_at = now + min(self.rto * self.backoff, MAX_RTO_NS)
        if self.rto_event > self.rto_at:  # else the pending event re-arms itself
            self.rto_event = self.rto_at
            self.agent.push(self.rto_at, RTO, self, None)

    def on_rto_event(self, now: int) -> None:
        self.rto_event = NEVER
        if self.rto_at == NEVER:
            return
        if self.rto_at > now:
            self.rto_event = self.rto_at
            self.agent.push(self.rto_at, RTO, self, None)
            return
        # The timeout: every segment not SACKed is lost; start again from one.
        self.timeouts += 1
        self.loss_events += 1
        self.reduce(now)
        self.cwnd = 1.0
        self.state = LOSS
        self.recover = self.snd_nxt
        self.retx.clear()
        self.retrans.clear()
        for seg in range(self.snd_una, self.snd_nxt):
            if seg not in self.sacked:
                self.lost.add(seg)
                self.retx.append(seg)
        self.backoff = min(self.backoff * 2, 64)
        self.rto_at = NEVER
        self.arm_rto(now)
        # Linux's cubictcp_state(TCP_CA_Loss): bictcp_reset() clears CUBIC's state
        # (W_max and delay_min too) and HyStart's ``found``, and bictcp_hystart_reset()
        # starts a round: HyStart watches the slow start that follows a timeout.
        if self.spec.cc is Cc.CUBIC:
            self.w_max = 0.0
            self.delay_min = NEVER
            self.hs_found = not self.spec.hystart
            self.hystart_reset(now)
        self.send(now)

    def rtt_sample(self, rtt: int) -> None:
        """RFC 6298's estimators, from the timestamp echo (Linux's tcp_rtt_estimator())."""
        if self.srtt == 0:
            self.srtt, self.rttvar = rtt, rtt // 2
        else:
            self.rttvar += (abs(self.srtt - rtt) - self.rttvar) // 4
            self.srtt += (rtt - self.srtt) // 8
        self.rto = self.srtt + max(4 * self.rttvar, self.spec.min_rto_ns)
        if rtt < self.min_rtt:
            self.min_rtt = rtt

    def cubic_acked(self, now: int, rtt: int) -> None:
        """Linux's cubictcp_acked(): CUBIC's RTT sample, ``rtt`` = ``rs->rtt_us``, the
        round trip of the segment sent last of those this ACK newly (S)ACKed (the
        ``ca_rtt_us`` of tcp_clean_rtx_queue(), not the oldest's that the estimators
        take): it feeds delay_min and HyStart."""
        if self.epoch >= 0 and now - self.epoch < NS:
            return  # "Discard delay samples right after fast recovery" (for HZ)
        rtt = max(rtt, 1)
        if rtt < self.delay_min:
            self.delay_min = rtt
        if not self.hs_found and self.cwnd < self.ssthresh:
            self.hystart(now, rtt)

    def hystart_reset(self, now: int) -> None:
        """Linux's bictcp_hystart_reset(): a round starts, to end with what is sent
        by now."""
        self.hs_round_end = self.snd_nxt
        self.hs_round_start = self.hs_last_ack = now
        self.hs_curr_rtt = NEVER
        self.hs_samples = 0

    def hystart(self, now: int, rtt: int) -> None:
        """Linux's hystart_update(): slow start ends when a round's ACKs come as one
        train longer than half the minimum RTT, or when the least RTT of the round's
        samples, once it has more than eight, is above the minimum by an eighth of it
        (4 to 16 ms)."""
        # The low-window test comes before the round's reset, as up to Linux 6.13: the
        # first round starts at the first ACK with a window of 16. Linux 6.14 on (commit
        # 25c1a9ca53db, "tcp_cubic: fix incorrect HyStart round start detection", which
        # this kernel has) resets first, so rounds run from the initial window; with
        # that order the model's short-RTT flows leave slow start earlier than the
        # kernel's, whose ACKs come in bursts, and a FIFO then favours long-RTT flows
        # that start into the smaller queue (docs/simulator.md).
        if self.cwnd < HYSTART_LOW_WINDOW:
            return
        if self.snd_una > self.hs_round_end:
            self.hystart_reset(now)
        if now - self.hs_last_ack <= HYSTART_ACK_DELTA_NS:
            self.hs_last_ack = now
            if now - self.hs_round_start > (self.delay_min + HYSTART_ACK_DELAY_NS) // 2:
                self.hs_found = True
        self.hs_curr_rtt = min(self.hs_curr_rtt, rtt)
        if self.hs_samples < HYSTART_MIN_SAMPLES:
            self.hs_samples += 1
        else:
            thresh = min(max(self.delay_min // 8, HYSTART_DELAY_MIN_NS), HYSTART_DELAY_MAX_NS)
            if self.hs_curr_rtt > self.delay_min + thresh:
                self.hs_found = True
        if self.hs_found:
            self.ssthresh = self.cwnd

    def reduce(self, now: int) -> None:
        """A congestion event: ssthresh from the window, as the algorithm says."""
        cwnd = self.cwnd
        if self.spec.cc is Cc.CUBIC:
            self.w_max = cwnd * (1 + CUBIC_BETA) / 2 if cwnd < self.w_max else cwnd
            self.epoch = -1
        self.ssthresh = max(cwnd * self.beta, 2.0)

    def grow(self, now: int, acked: int) -> None:
        # Linux's tcp_is_cwnd_limited(): in slow start the window grows to twice what
        # was in flight, also while the receive window held the sender back.
        limited = self.cwnd_limited or (self.cwnd < self.ssthresh
                                        and self.cwnd < 2 * self.max_out)
        if not limited or acked <= 0:
            return
        if self.cwnd < self.ssthresh:  # slow start
            room = self.ssthresh - self.cwnd
            step = min(acked, room) if room > 0 else 0
            self.cwnd += step
            acked -= int(step)
            if acked <= 0:
                return
        if self.spec.cc is Cc.CUBIC:
            self.cubic(now, acked)
        else:
            self.cwnd += acked / self.cwnd

    def cubic(self, now: int, acked: int) -> None:
        """RFC 9438's window growth in congestion avoidance."""
        cwnd = self.cwnd
        if self.epoch < 0:
            self.epoch = now
            if cwnd >= self.w_max:
                self.w_max, self.k = cwnd, 0.0
            else:
                self.k = ((self.w_max - cwnd) / CUBIC_C) ** (1 / 3)
            self.w_est = cwnd
        rtt = self.delay_min if self.delay_min != NEVER else self.spec.rtt_ns
        t = (now - self.epoch + rtt) / NS  # bictcp_update(): t + delay_min
        target = CUBIC_C * (t - self.k) ** 3 + self.w_max
        target = min(max(target, cwnd), 1.5 * cwnd)
        self.w_est += (CUBIC_ALPHA if self.w_est < self.w_max else 1.0) * acked / cwnd
        if target < self.w_est:  # the Reno-friendly region
            self.cwnd = max(cwnd, self.w_est)
        else:
            self.cwnd = cwnd + (target - cwnd) * acked / cwnd

    def on_ack(self, now: int, cum: int, news: list[tuple[int, int, int]], ece: bool, ce: int,
               ts_echo: int, right: int) -> None:
        self.snd_right = max(self.snd_right, right)
        if ts_echo >= 0:
            self.rtt_sample(now - ts_echo)
        delivered = 0
        rack_tx = 0
        last_sent = -1  # the latest send time of a segment newly (S)ACKed, never resent
        sacked, lost, retrans, last_tx = self.sacked, self.lost, self.retrans, self.last_tx
        ever_retx = self.ever_retx
        for seg, tx, sent in news:
            if tx > rack_tx:
                rack_tx = tx
            if sent > last_sent and seg >= self.snd_una and seg not in sacked and \
                    seg not in ever_retx:
                last_sent = sent
            if seg >= cum and seg >= self.snd_una and seg not in sacked:
                sacked.add(seg)
                lost.discard(seg)
                retrans.discard(seg)
                delivered += 1
        if cum > self.snd_una:
            for seg in range(self.snd_una, cum):
                if seg in sacked:
                    sacked.remove(seg)
                else:
                    delivered += 1
                lost.discard(seg)
                retrans.discard(seg)
                ever_retx.discard(seg)
                last_tx.pop(seg, None)
            self.snd_una = cum
            self.backoff = 1
            self.rto_at = NEVER
            if self.snd_una < self.snd_nxt:
                self.arm_rto(now)
        self.detect_losses(rack_tx)
        if last_sent >= 0 and self.spec.cc is Cc.CUBIC:
            self.cubic_acked(now, now - last_sent)
        if self.spec.cc is Cc.DCTCP:
            self.dctcp(now, delivered, ce)
        state = self.state
        # Recovery ends when what was outstanding at its start is acknowledged; a
        # reduction for ECN when the segment that carried CWR is too (until then,
        # ACKs may still echo the marks it answered).
        if state != OPEN and (self.snd_una > self.recover if state == CWR
                              else self.snd_una >= self.recover):
            if state != LOSS:
                self.cwnd = max(min(self.cwnd, self.ssthresh), 2.0)
            self.state = state = OPEN
        if lost and state in (OPEN, CWR):
            self.loss_events += 1
            self.reduce(now)
            self.cwnd = self.ssthresh
            self.state = RECOVERY
            self.recover = self.snd_nxt
        elif (ece or ce) and state == OPEN and self.spec.ecn is not Ecn.OFF:
            self.ecn_events += 1
            if self.spec.cc is Cc.DCTCP:
                self.ssthresh = max(self.cwnd * (1 - self.alpha / 2), 2.0)
            else:
                self.reduce(now)
            self.cwnd = self.ssthresh
            self.state = CWR
            self.recover = self.snd_nxt
            self.cwr_pending = True
        elif state in (OPEN, LOSS):
            self.grow(now, delivered)
        if now >= self.next_sample:
            self.next_sample = now + self.sample_ns
            self.samples.append((now, self.cwnd, self.srtt, self.snd_una * self.spec.mss))
            self.srtts.append(self.srtt)
        self.send(now)
        if self.snd_una >= self.snd_nxt and not self.retx:
            self.rto_at = NEVER

    def detect_losses(self, rack_tx: int) -> None:
        """RACK without reordering: an outstanding segment sent before one that was
        delivered is lost, once three are SACKed or recovery is under way."""
        detect = self.state in (RECOVERY, LOSS) or len(self.sacked) >= DUPTHRESH
        txq, last_tx, sacked, lost = self.txq, self.last_tx, self.sacked, self.lost
        while txq and txq[0][0] < rack_tx:
            tx, seg = txq[0]
            if seg < self.snd_una or seg in sacked or last_tx.get(seg) != tx or (
                    seg in lost and seg not in self.retrans):  # delivered, or known lost
                txq.popleft()
                continue
            if not detect:
                return
            txq.popleft()
            lost.add(seg)
            self.retrans.discard(seg)
            self.retx.append(seg)

    def dctcp(self, now: int, delivered: int, ce: int) -> None:
        """RFC 8257's estimate of the marked fraction, once per window."""
        self.dc_acked += delivered
        self.dc_marked += ce
        if self.snd_una > self.dc_window_end:
            if self.dc_acked:
                frac = min(self.dc_marked / self.dc_acked, 1.0)
                self.alpha = (1 - DCTCP_G) * self.alpha + DCTCP_G * frac
            self.dc_acked = self.dc_marked = 0
            self.dc_window_end = self.snd_nxt

    # -- receiver ----------------------------------------------------------------------

    def on_deliver(self, now: int, seg: int, tx: int, t_sent: int, cwr: bool, ce: bool) -> None:
        spec = self.spec
        now_ack = False
        if ce:
            self.ce_received += 1
        if spec.ecn is Ecn.CLASSIC:
            if cwr:
                self.ece = False
            if ce:
                self.ece = True
        elif spec.ecn is Ecn.L4S:
            if ce != self.last_ce and self.unacked:  # what came before, in its CE state
                self.send_ack(now)
            self.last_ce = ce
            if ce:
                self.ce_count += 1
        if self.ts_echo < 0:
            self.ts_echo = t_sent
        if seg == self.rcv_nxt:
            filled = bool(self.ooo)
            self.rcv_nxt += 1
            self.delivered += self.payload(seg)
            while self.rcv_nxt in self.ooo:
                self.ooo.remove(self.rcv_nxt)
                self.delivered += self.payload(self.rcv_nxt)
                self.rcv_nxt += 1
            now_ack = filled
            if self.rcv_nxt >= self.nsegs and not self.done_at:
                self.done_at = now
            if spec.rwnd_init:
                now_ack |= self.autotune(now)
        else:
            if seg > self.rcv_nxt:
                self.ooo.add(seg)
            now_ack = True
        self.news.append((seg, tx, t_sent))
        self.unacked += 1
        if self.quick > 0:
            self.quick -= 1
            now_ack = True
        if now_ack or self.unacked >= 2 or not spec.delack_ns:
            self.send_ack(now)
        elif not self.delack_armed:
            self.delack_armed = True
            self.agent.push(now + spec.delack_ns, DELACK, self, self.delack_gen)

    def autotune(self, now: int) -> bool:
        """Linux's receive-window autotuning, for a segment received in order (the
        application reads at once); whether to ACK it at once.

        tcp_rcv_space_adjust(): once per round trip (the receiver's estimate from
        timestamps; here the sender's, of the same path), if the bytes read in it
        exceed the last such measure, tcp_rcvbuf_grow() sets window_clamp to
        2c + 4c (c - s) / s for c bytes read now and s then ("slow start: allow the
        sender to double its rate"). tcp_grow_window(): each segment raises rcv_ssthresh, the window
        the receiver offers, by two MSS towards window_clamp, and asks for a quick
        ACK (icsk_ack.quick |= 1): while the window opens, every segment is ACKed."""
        if self.drs_time < 0:
            self.drs_time, self.drs_seq = now, self.delivered
        elif self.srtt and now - self.drs_time >= self.srtt:
            copied = self.delivered - self.drs_seq
            if copied > self.drs_space:
                win = 2 * copied + 4 * copied * (copied - self.drs_space) // self.drs_space
                self.rcv_clamp = min(max(self.rcv_clamp, win), self.spec.rwnd)
                self.drs_space = copied
            self.drs_time, self.drs_seq = now, self.delivered
        if self.rcv_ssthresh >= self.rcv_clamp:
            return False
        self.rcv_ssthresh = min(self.rcv_clamp, self.rcv_ssthresh + 2 * self.spec.mss)
        return True

    def send_ack(self, now: int) -> None:
        # tcp_select_window(): the window offered, never shrinking the last one's edge
        self.rcv_right = max(self.rcv_right, self.rcv_nxt + self.rcv_ssthresh // self.spec.mss)
        self.agent.push(now + self.d_rev, ACK, self,
                        (self.rcv_nxt, self.news, self.ece, self.ce_count, self.ts_echo,
                         self.rcv_right))
        self.news = []
        self.unacked = 0
        self.ce_count = 0
        self.ts_echo = -1
        self.delack_gen += 1
        self.delack_armed = False

    def on_delack(self, now: int, gen: int) -> None:
        if gen == self.delack_gen and self.unacked:
            self.send_ack(now)

    # -- results -----------------------------------------------------------------------

    def stats(self, end_ns: int) -> TcpStats:
        spec = self.spec
        stop = self.done_at or end_ns
        span = max(stop - spec.start_ns, 1)
        srtts = sorted(self.srtts)
        pick = lambda q: srtts[min(len(srtts) - 1, int(q * len(srtts)))] if srtts else 0  # noqa: E731
        return TcpStats(
            flow=spec.flow, cc=spec.cc.value, rtt_ns=spec.rtt_ns, start_ns=spec.start_ns,
            size=spec.size, bytes_delivered=self.delivered,
            goodput_bps=self.delivered * 8 * NS / span, segments_sent=self.sent,
            retransmits=self.retransmits, timeouts=self.timeouts,
            loss_events=self.loss_events, ecn_events=self.ecn_events,
            ce_received=self.ce_received,
            fct_ns=self.done_at - spec.start_ns if self.done_at else 0,
            min_rtt_ns=self.min_rtt if self.min_rtt != NEVER else 0,
            srtt_p50_ns=pick(0.5), srtt_p99_ns=pick(0.99), samples=self.samples)


class TcpAgent:
    """The TCP flows of a run and their events; what ``Simulation.run`` drives."""

    def __init__(self, specs: list[TcpSpec], sample_ns: int = 10 * MS) -> None:
        self.heap: list[tuple[int, int, int, _Flow, Any]] = []
        self.seq = 0
        self.flows = [_Flow(s, self, sample_ns) for s in specs]
        for f in self.flows:
            self.push(f.spec.start_ns, START, f, None)

    def push(self, t: int, kind: int, flow: _Flow, data: Any) -> None:
        heapq.heappush(self.heap, (t, self.seq, kind, flow, data))
        self.seq += 1

    def next_time(self) -> int:
        return self.heap[0][0] if self.heap else NEVER

    def pop(self) -> tuple[FlowPacket, tuple[Any, ...]] | None:
        """Run the next event; a segment that reaches the bottleneck now comes back (its
        packet, and what to hand to :meth:`deliver` when the link delivers it)."""
        t, _, kind, f, data = heapq.heappop(self.heap)
        if kind == ARRIVE:
            return (f.last if data[1] == f.nsegs - 1 else f.full), data
        if kind == DELIVER:
            info, ce = data
            f.on_deliver(t, info[1], info[2], info[3], info[4], ce)
        elif kind == ACK:
            f.on_ack(t, *data)
        elif kind == DELACK:
            f.on_delack(t, data)
        elif kind == RTO:
            f.on_rto_event(t)
        else:  # START
            f.send(t)
        return None

    def deliver(self, t: int, info: tuple[Any, ...], ce: bool) -> int:
        """The segment ``info`` reached its receiver at ``t`` (CE-marked or not); the
        next event's time."""
        self.push(t, DELIVER, info[0], (info, ce))
        return self.heap[0][0]

    def stats(self, end_ns: int) -> list[TcpStats]:
        return [f.stats(end_ns) for f in self.flows]
