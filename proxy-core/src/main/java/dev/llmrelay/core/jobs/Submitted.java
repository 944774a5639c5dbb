package dev.llmrelay.core.jobs;

/**
 * What a submission produced.
 *
 * @param job the job, without bodies
 * @param replayed true when the {@code Idempotency-Key} named an existing job with the same
 *     request, which this is
 */
public record Submitted(Job job, boolean replayed) {}
