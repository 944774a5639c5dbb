package dev.llmrelay.example.simulate;

/**
 * What one request will get: the fault (or {@link SimulatedFault#NONE}), the status to answer
 * with, and for a cut stream after how many {@code data:} events the connection is closed.
 *
 * @param fault the fault to simulate
 * @param status the HTTP status; 0 for {@link SimulatedFault#TIMEOUT}, which sends none
 * @param cutAfterEvents for {@link SimulatedFault#CUT} on a stream: {@code data:} events sent
 *     before the connection is closed, from 1 to the stream's length minus one; otherwise 0
 */
record FaultPlan(SimulatedFault fault, int status, int cutAfterEvents) {
  static final FaultPlan NONE = new FaultPlan(SimulatedFault.NONE, 200, 0);
}
