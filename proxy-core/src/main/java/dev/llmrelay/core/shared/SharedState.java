package dev.llmrelay.core.shared;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * State that several relay instances share through an engine they all reach: leased permits
 * (a global concurrency cap) and breaker cooldown hints. Everything else (breakers, health,
 * statistics, adaptive timeouts, the retry budget) stays in each instance.
 *
 * <p>Every time is the engine's own clock (PostgreSQL's {@code clock_timestamp()}, Redis's {@code
 * TIME}); durations cross the boundary, instants never do, so instances whose clocks disagree
 * can neither steal nor expire each other's permits.
 *
 * <p>Every method returns at once; the stage completes when the engine answered, exceptionally
 * when it failed (callers bound each call with {@code SHARED_STATE_TIMEOUT_MILLIS}). No method
 * waits for a permit to become free: a caller that wants to wait asks again later, so waiting
 * holds no thread.
 *
 * <p>Implementations are thread-safe. llmrelay ships three ({@link SharedStates#create}): one in
 * the JVM (nothing shared), PostgreSQL and Redis.
 */
public interface SharedState extends AutoCloseable {

  /**
   * Takes a permit if fewer than {@code limit} unexpired permits are held.
   *
   * @param leaseId a unique name for this permit
   * @param limit the global cap
   * @param lease how long the permit lasts unless renewed
   * @return true when taken
   */
  CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease);

  /**
   * Extends an unexpired permit to {@code lease} from now.
   *
   * @param leaseId the permit
   * @param lease its new remaining time
   * @return false when the permit had expired (and may have been taken by someone else)
   */
  CompletionStage<Boolean> renew(String leaseId, Duration lease);

  /**
   * Gives a permit back; nothing happens when it is unknown or expired.
   *
   * @param leaseId the permit
   * @return completes when the engine has forgotten it
   */
  CompletionStage<Void> release(String leaseId);

  /**
   * Counts the unexpired permits of every instance.
   *
   * @return the count
   */
  CompletionStage<Integer> held();

  /**
   * Publishes that a route's breaker opened: other instances treat it as open for {@code openFor}
   * (a later, longer hint wins).
   *
   * @param route the route's name, {@code model@upstream} or the upstream's name
   * @param openFor how long from now
   * @return completes when published
   */
  CompletionStage<Void> publishOpenRoute(String route, Duration openFor);

  /**
   * The routes some instance reported open, with how long each stays open from now.
   *
   * @return route name to remaining time; only routes still open
   */
  CompletionStage<Map<String, Duration>> openRoutes();

  /** Closes the engine connection. */
  @Override
  void close();
}
