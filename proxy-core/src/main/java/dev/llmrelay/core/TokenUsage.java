package dev.llmrelay.core;

/**
 * The {@code usage} block an upstream reported (in a JSON body or the last SSE chunk). Counts the
 * upstream did not send are 0. Immutable.
 *
 * @param promptTokens {@code usage.prompt_tokens}
 * @param completionTokens {@code usage.completion_tokens}
 * @param totalTokens {@code usage.total_tokens}
 */
public record TokenUsage(long promptTokens, long completionTokens, long totalTokens) {}
