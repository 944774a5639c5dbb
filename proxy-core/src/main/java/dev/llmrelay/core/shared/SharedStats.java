package dev.llmrelay.core.shared;

/**
 * This instance's view of the shared limits, for metrics.
 *
 * @param permitsHeld global permits this instance holds now
 * @param up whether the engine answered the last call
 * @param errors engine calls that failed or timed out
 * @param leasesLost permits that lapsed while their request still ran
 * @param limit {@code SHARED_MAX_CONCURRENT_REQUESTS}
 */
public record SharedStats(int permitsHeld, boolean up, long errors, long leasesLost, int limit) {}
