package dev.llmrelay.core;

import java.util.concurrent.CompletionStage;

/**
 * A handle on one running client request. Thread-safe: {@link #cancel()} may be called from any
 * thread, any number of times.
 */
public interface UpstreamExchange {
  /**
   * Stops the exchange wherever it is: leaves the permit queue, interrupts a backoff, cancels the
   * upstream call (closing its connection) and releases the permit. The sink receives no further
   * call once this returns (a call already running may finish). Counted as a client cancel.
   */
  void cancel();

  /**
   * Completes when the exchange has ended and released everything it held (never exceptionally).
   */
  CompletionStage<ExchangeResult> completion();
}
