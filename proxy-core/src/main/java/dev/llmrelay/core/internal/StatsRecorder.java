package dev.llmrelay.core.internal;

import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayStats;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/** The relay's counters. Thread-safe; increments are contention-free ({@link LongAdder}). */
public final class StatsRecorder {
  private final Map<Outcome, LongAdder> outcomes = new EnumMap<>(Outcome.class);
  private final LongAdder retries = new LongAdder();
  private final LongAdder attemptTimeouts = new LongAdder();
  private final LongAdder attemptConnectErrors = new LongAdder();

  /** Creates zeroed counters. */
  public StatsRecorder() {
    for (Outcome o : Outcome.values()) {
      outcomes.put(o, new LongAdder());
    }
  }

  /** Counts one finished request. */
  public void requestFinished(Outcome outcome) {
    outcomes.get(outcome).increment();
  }

  /** Counts one retry (an attempt beyond the first, about to be scheduled). */
  public void retry() {
    retries.increment();
  }

  /** Counts one attempt that timed out. */
  public void attemptTimeout() {
    attemptTimeouts.increment();
  }

  /** Counts one attempt that failed to connect or was reset. */
  public void attemptConnectError() {
    attemptConnectErrors.increment();
  }

  /** A snapshot with the gate's gauges. */
  public RelayStats snapshot(
      ConcurrencyGate gate, long requestLogDropped, long retriesDenied, int connections, int idleConnections) {
    long total = 0;
    for (LongAdder a : outcomes.values()) {
      total += a.sum();
    }
    return new RelayStats(
        total,
        count(Outcome.SUCCESS),
        count(Outcome.TIMEOUT),
        count(Outcome.UNREACHABLE),
        count(Outcome.UPSTREAM_4XX),
        count(Outcome.UPSTREAM_5XX),
        count(Outcome.BAD_RESPONSE),
        retries.sum(),
        count(Outcome.REJECTED),
        count(Outcome.CLIENT_CANCELLED),
        count(Outcome.MIDSTREAM_FAILURE),
        attemptTimeouts.sum(),
        attemptConnectErrors.sum(),
        gate.inUse(),
        gate.queued(),
        gate.availablePermits(),
        requestLogDropped,
        retriesDenied,
        count(Outcome.INTERNAL_ERROR),
        connections,
        idleConnections);
  }

  private long count(Outcome o) {
    return outcomes.get(o).sum();
  }
}
