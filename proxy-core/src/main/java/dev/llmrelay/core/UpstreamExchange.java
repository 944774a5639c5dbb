package dev.llmrelay.core;

import java.util.concurrent.CompletionStage;

/**
 * One client request through the relay, created by {@link UpstreamClient#newExchange} and run
 * once, either way:
 *
 * <ul>
 *   <li>{@link #start()} returns at once: the request waits for a permit without holding a thread,
 *       then runs on the client's executor (virtual threads on Java 21+, a pool on Java 17). The
 *       way for a thread that must not block, such as a servlet container's.
 *   <li>{@link #execute()} runs it on the calling thread and returns its result when it ended;
 *       waiting for a permit blocks the caller (up to {@code MAX_WAIT_SECONDS}). The way for a
 *       virtual thread, or a worker thread of the caller's own.
 * </ul>
 *
 * The response goes to the {@link ResponseSink} given at creation. Wire {@link #cancel()} (a client
 * that went away) before starting it.
 *
 * <p>Thread-safe: {@link #cancel()} and {@link #completion()} may be called from any thread, any
 * number of times; {@code start} or {@code execute} once, in all.
 */
public interface UpstreamExchange {
  /**
   * Starts the exchange and returns at once.
   *
   * @return this exchange
   * @throws IllegalStateException when it was started before
   */
  UpstreamExchange start();

  /**
   * Runs the exchange on the calling thread: waits for a permit, makes the attempts, delivers the
   * response to the sink, releases everything, and returns what happened.
   *
   * @return the result, as {@link #completion()} completes with it
   * @throws IllegalStateException when it was started before
   */
  ExchangeResult execute();

  /**
   * Stops the exchange wherever it is: leaves the permit queue, ends a backoff, cancels the
   * upstream call (closing its connection) and releases the permit. The sink receives no further
   * call once this returns (a call already running may finish). Counted as a client cancel.
   * Before {@code start}/{@code execute}: the exchange will make no attempt.
   */
  void cancel();

  /**
   * Completes when the exchange has ended and released everything it held (never exceptionally).
   *
   * @return the stage, the same one on every call
   */
  CompletionStage<ExchangeResult> completion();
}
