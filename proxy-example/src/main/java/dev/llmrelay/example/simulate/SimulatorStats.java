package dev.llmrelay.example.simulate;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * A snapshot of what a {@link SimulatedUpstream} has done since it started.
 *
 * <p>Immutable and thread-safe; the values are read one after the other, not atomically together.
 *
 * @param totalRequests every request received, whatever its answer
 * @param answers how many requests got each kind of answer; every kind is present, 0 if unused
 * @param activeRequests requests received whose exchange has not ended yet (held "timeouts",
 *     requests waiting out their latency, streams in progress)
 * @param clientAborts exchanges that ended because the client went away before the answer was
 *     complete (a cancelled held request, a stream whose writes failed)
 */
public record SimulatorStats(
    long totalRequests, Map<SimulatedAnswer, Long> answers, int activeRequests, long clientAborts) {

  /** Copies {@code answers} in the order of {@link SimulatedAnswer}, 0 for missing kinds. */
  public SimulatorStats {
    EnumMap<SimulatedAnswer, Long> copy = new EnumMap<>(SimulatedAnswer.class);
    for (SimulatedAnswer answer : SimulatedAnswer.values()) {
      copy.put(answer, answers.getOrDefault(answer, 0L));
    }
    answers = Collections.unmodifiableMap(copy);
  }

  /** How many requests got {@code answer}. */
  public long count(SimulatedAnswer answer) {
    return answers.get(answer);
  }
}
