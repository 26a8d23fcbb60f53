"""Gradient threshold compression (GTC) with error feedback, as a DDP communication hook.

Strom, "Scalable distributed DNN training using commodity GPU cloud computing" (Interspeech
2015); used inside groups by Hong et al., GTC-BMUF. Each rank ``i`` keeps a residual ``r_i`` per
parameter element and, at every (last micro-batch) backward::

    r_i  <- r_i + g_i                                  (accumulate the new local gradient)
    s_i  <- tau * sign(r_i) * [|r_i| >= tau]           (quantise: send only large entries)
    r_i  <- r_i - s_i                                  (error feedback: keep what was not sent)
    g    <- (1 / p) * sum_i s_i                        (every member decodes all messages)

so that, for every element, ``sum_t s_i(t) + r_i(T) == sum_t g_i(t)``: nothing is lost, only
delayed. Each sent entry is one 32-bit word: bit 31 is the sign (1 = ``-tau``), bits 0-30 the
element's index in the DDP bucket (so a bucket holds at most ``2**31`` elements).

Messages have different lengths on different ranks, so the exchange inside the group is two
all-gathers: the counts (one int32 each), then the codes, every message padded to the longest.
Decoding adds ``+-1`` per word into an integer counter per element and multiplies by ``tau / p``
once, so the result is exact, identical on every member and independent of summation order.

DDP rebuilds its buckets after the first iteration, so residuals are keyed by *parameter*, not
by bucket index. DDP should be built with ``broadcast_buffers=False`` (buffers are not gradients
and must not be sent at each step) over the *group's* process group.

No host synchronisation on the backward thread. DDP calls the hook on autograd's thread while
backward goes on; anything there that waits for the device (``nonzero``, ``.item()``, a message
length read on the host) stops backward until the bucket's gradient exists, and communication
can no longer overlap computation. So the hook only *enqueues* device work: the residual update
and the ``+-1`` signs of the entries to send, fixed-size tensors. Everything whose size depends
on the data (the codes, the exchange of their counts, the padded all-gather, decoding) runs on
one exchange thread per GTC state, in bucket order (the same on every rank, which collectives
need), and completes the future DDP waits for at the end of backward. On a GPU the exchange
thread works on its own CUDA stream, which first waits for an event recorded after the signs.
The thread's collectives cannot interleave with the main thread's on the same group: DDP waits
for every bucket's future before backward returns, and the main thread only communicates
outside backward (forward's gathers, BMUF after the optimizer step).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from .accounting import CommCounter, all_gather_bytes
from .compat import all_gather_flat

#: Bit 31 of an int32 word: set when the entry is ``-tau``.
SIGN_BIT = -(2**31)
#: Bits 0-30: the element index.
INDEX_MASK = 2**31 - 1
#: Largest index a 32-bit code can carry.
MAX_INDEX = 2**31 - 1


def pack_codes(indices: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """One int32 word per entry: ``index | (sign << 31)``.

    Args:
        indices: element indices, ``0 <= index <= MAX_INDEX``.
        negative: True where the entry is ``-tau``.
    """
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) > MAX_INDEX):
        raise ValueError(
            f"GTC indices must lie in [0, {MAX_INDEX}]; got [{int(indices.min())}, "
            f"{int(indices.max())}]: reduce DDP's bucket_cap_mb so that buckets hold < 2**31 elements"
        )
    codes = indices.to(torch.int32)
    sign = torch.full_like(codes, SIGN_BIT)
    return torch.where(negative, codes | sign, codes)


def unpack_codes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_codes`: ``(indices as int64, negative as bool)``."""
    if codes.dtype != torch.int32:
        raise TypeError(f"GTC codes are int32 words, got {codes.dtype}")
    return (codes & INDEX_MASK).to(torch.int64), codes < 0


class ThresholdCompressor:
    """The local half of GTC: residuals per parameter, threshold, sign + index codes.

    Args:
        threshold: ``tau`` (> 0), in gradient units.
    """

    def __init__(self, threshold: float) -> None:
        if not threshold > 0:
            raise ValueError(f"GTC threshold must be > 0, got {threshold!r}")
        self.threshold = float(threshold)
        self.residuals: dict[nn.Parameter, torch.Tensor] = {}

    def residual_of(self, param: nn.Parameter) -> torch.Tensor:
        """The residual of ``param`` (zeros until its first gradient)."""
        if param not in self.residuals:
            self.residuals[param] = torch.zeros(
                param.numel(), dtype=param.dtype, device=param.device
            )
        return self.residuals[param]

    def quantize(self, flat_grad: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
        """Add ``flat_grad`` (the concatenation of ``params``' gradients) to the residuals, take
        ``+-tau`` out where ``|r| >= tau``; return the signs taken (int8: -1, 0, +1).

        Device work only (no host synchronisation): the sizes do not depend on the data.
        """
        expected = sum(p.numel() for p in params)
        if flat_grad.numel() != expected:
            raise ValueError(
                f"bucket buffer has {flat_grad.numel()} elements but its parameters hold {expected}"
            )
        residual = (
            torch.cat([self.residual_of(p) for p in params]) if params else flat_grad.new_zeros(0)
        )
        residual += flat_grad.to(residual.dtype)
        taken = torch.where(
            residual.abs() >= self.threshold, torch.sign(residual), torch.zeros_like(residual)
        )
        residual -= taken * self.threshold  # r - (+-tau) where sent, r - 0 elsewhere: exact
        offset = 0
        for param in params:
            self.residuals[param].copy_(residual[offset : offset + param.numel()])
            offset += param.numel()
        return taken.to(torch.int8)

    def compress(self, flat_grad: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
        """:meth:`quantize`, then the codes of what was taken (synchronises with the device)."""
        return codes_of(self.quantize(flat_grad, params))


def codes_of(signs: torch.Tensor) -> torch.Tensor:
    """The 32-bit codes of the non-zero entries of ``signs``, in index order (a host sync)."""
    indices = torch.nonzero(signs).squeeze(1)
    return pack_codes(indices, signs[indices] < 0)


def decode_sum(codes: torch.Tensor, numel: int) -> torch.Tensor:
    """Per element, the number of ``+tau`` minus the number of ``-tau`` words (int32)."""
    indices, negative = unpack_codes(codes)
    counts = torch.zeros(numel, dtype=torch.int32, device=codes.device)
    ones = torch.where(negative, -1, 1).to(torch.int32)
    counts.index_add_(0, indices, ones)
    return counts


def exchange_codes(
    codes: torch.Tensor, group: dist.ProcessGroup, comm: CommCounter | None = None
) -> torch.Tensor:
    """Variable-length all-gather: every member's codes, concatenated in group-rank order.

    Two collectives: all-gather of the counts, then of the codes padded to the longest message.
    Reads the longest count on the host: run it on the exchange thread, not on backward's.
    """
    p = group.size()
    count = torch.tensor([codes.numel()], dtype=torch.int32, device=codes.device)
    counts = torch.empty(p, dtype=torch.int32, device=codes.device)
    all_gather_flat(counts, count, group=group)
    if comm is not None:
        comm.record("all_gather(gtc counts)", p, all_gather_bytes(4, p))
    longest = int(counts.max())
    if longest == 0:
        return codes.new_empty(0)
    padded = codes.new_zeros(longest)
    padded[: codes.numel()] = codes
    gathered = codes.new_empty(p * longest)
    all_gather_flat(gathered, padded, group=group)
    if comm is not None:
        comm.record("all_gather(gtc codes)", p, all_gather_bytes(4 * longest, p))
    valid = torch.arange(longest, device=codes.device).unsqueeze(0) < counts.unsqueeze(1)
    return gathered.view(p, longest)[valid]


class ExchangeThread:
    """One worker thread running jobs in submission order; each job completes a future.

    Args:
        device: where the tensors live; for CUDA the jobs run on a stream of their own that
            first waits for the event recorded when the job was submitted.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="transencoder-gtc", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], torch.Tensor]) -> torch.futures.Future[torch.Tensor]:
        """Queue ``job`` (called on the thread); its result completes the returned future."""
        cuda = self.device.type == "cuda"
        future: torch.futures.Future[torch.Tensor] = (
            torch.futures.Future(devices=[self.device]) if cuda else torch.futures.Future()
        )
        event = None
        if cuda:  # the work enqueued so far on backward's stream, which the job reads
            event = torch.cuda.Event()
            event.record()
        self._jobs.put((job, future, event))
        return future

    def close(self, timeout_s: float = 30.0) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        stream = None
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            stream = torch.cuda.Stream(self.device)
        while (item := self._jobs.get()) is not None:
            job, future, event = item
            try:
                if stream is None:
                    future.set_result(job())
                    continue
                with torch.cuda.stream(stream):
                    stream.wait_event(event)
                    future.set_result(job())  # records the stream for DDP's wait
            except BaseException as error:  # noqa: BLE001 - the future carries it to DDP
                future.set_exception(error)


@dataclass
class GTCState:
    """State of :func:`gtc_hook`: the group it talks over, the compressor, the comm.

    Attributes:
        process_group: the GTC group (the ranks of one partition group).
        compressor: residuals and threshold.
        comm: where the traffic is recorded.
        keep_last_codes: keep, per bucket index, the bucket's parameters and this rank's codes
            of the last call in ``last_codes`` (for tests and debugging).
    """

    process_group: dist.ProcessGroup
    compressor: ThresholdCompressor
    comm: CommCounter = field(default_factory=CommCounter)
    keep_last_codes: bool = False
    last_codes: dict[int, tuple[list[nn.Parameter], torch.Tensor]] = field(default_factory=dict)
    exchange: ExchangeThread | None = field(default=None, repr=False)

    def close(self) -> None:
        """Stop the exchange thread (after the jobs already queued). Idempotent."""
        if self.exchange is not None:
            self.exchange.close()
            self.exchange = None


def gtc_hook(state: GTCState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: GTC-compress the bucket, exchange inside the group, decode.

    Register with ``ddp.register_comm_hook(state, gtc_hook)``. On the calling (backward) thread
    it only enqueues the residual update and the signs (no host synchronisation); the codes,
    their exchange and the decoding run on ``state``'s exchange thread, which completes the
    returned future with ``(1 / p) * sum_i s_i``.
    """
    buffer = bucket.buffer()
    params = list(bucket.parameters())
    if buffer.numel() - 1 > MAX_INDEX:
        raise ValueError(
            f"a DDP bucket of {buffer.numel()} elements does not fit GTC's 31-bit indices: "
            f"reduce bucket_cap_mb"
        )
    signs = state.compressor.quantize(buffer, params)
    if state.exchange is None:
        state.exchange = ExchangeThread(buffer.device)
    index, numel, dtype = bucket.index(), buffer.numel(), buffer.dtype

    def exchange() -> torch.Tensor:
        if signs.is_cuda:  # made on backward's stream, read on the exchange thread's
            signs.record_stream(torch.cuda.current_stream(signs.device))
        codes = codes_of(signs)
        if state.keep_last_codes:
            state.last_codes[index] = (params, codes.clone())
        group = state.process_group
        p = group.size()
        all_codes = exchange_codes(codes, group, state.comm) if p > 1 else codes
        counts = decode_sum(all_codes, numel)
        state.comm.count("gtc_words_sent", codes.numel())
        state.comm.count("gtc_elements", numel)
        return counts.to(dtype).mul_(state.compressor.threshold).div_(p)

    return state.exchange.submit(exchange)


# DDP checks a hook's annotations against the real classes; ``from __future__ import
# annotations`` turns them into strings, so restore the objects.
gtc_hook.__annotations__ = {
    "state": GTCState,
    "bucket": dist.GradBucket,
    "return": torch.futures.Future[torch.Tensor],
}
