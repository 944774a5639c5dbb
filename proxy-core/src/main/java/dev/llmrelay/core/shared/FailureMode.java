package dev.llmrelay.core.shared;

/** What the relay does while the shared-state engine does not answer ({@code SHARED_STATE_FAILURE_MODE}). */
public enum FailureMode {
  /** Continue under each instance's own limits (the default): availability over the global cap. */
  OPEN,
  /** Answer 503 {@code shared_state_unavailable} with {@code Retry-After}: the global cap over availability. */
  CLOSED
}
