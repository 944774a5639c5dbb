package dev.llmrelay.core.shared;

/** The in-JVM state shares within the JVM only: the contract's "another" is the same object. */
class InJvmSharedStateTest extends SharedStateContract {
  private SharedState shared;

  @Override
  SharedState newState() {
    if (shared == null) {
      shared = SharedStates.create(SharedStateConfig.builder().build());
    }
    return shared;
  }

  @Override
  SharedState another() {
    return shared; // not closed twice: close() is a no-op anyway
  }
}
