package dev.llmrelay.core;

import java.time.Duration;

/**
 * The state of one route (an upstream and a model) as the relay sees it now. Immutable.
 *
 * @param upstream the upstream's name
 * @param model the model, or null for the route that sends bodies unchanged
 * @param breaker {@code closed}, {@code open} or {@code half_open}
 * @param retryIn for an open breaker, the time until it lets a probe through; else zero
 * @param attemptTimeout the first attempt's current time-to-headers limit on this route (lower
 *     than {@code ATTEMPT_TIMEOUT_SECONDS} once adaptive timeouts learned it)
 * @param successfulAttempts successful attempts the adaptive timeout has seen
 */
public record RouteStatus(
    String upstream, String model, String breaker, Duration retryIn, Duration attemptTimeout, long successfulAttempts) {}
