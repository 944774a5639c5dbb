package dev.llmrelay.core;

/**
 * Told about every client request once it has ended: the hook for metrics and request logs.
 * Register with {@link UpstreamClient.Builder#listener(ExchangeListener)}.
 *
 * <p>Called once per request, after its permit and connection were released, on the thread that
 * ended it (often an exchange thread): keep it fast and non-blocking. An exception it throws is
 * logged and otherwise ignored. Implementations must be thread-safe.
 */
public interface ExchangeListener {
  /**
   * A request ended (including requests the caller rejected, see {@link UpstreamClient#recordRejection}).
   *
   * @param result what happened to the request
   */
  void exchangeFinished(ExchangeResult result);

  /**
   * The client was built and is about to take requests; bind gauges here.
   *
   * @param client the client, already able to report {@link UpstreamClient#stats()}
   */
  default void clientStarted(UpstreamClient client) {}
}
