package dev.llmrelay.core;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;

/**
 * The shared {@link LeakCheck} as proxy-core's own tests register it: the public gauges plus the
 * running exchanges, which only this module can see. An exchange counts as running from its start
 * until it finishes; one that never finishes (its sink never told, its completion never
 * completed) leaks even when it holds no permit, and the public stats cannot show that.
 */
final class CoreLeakCheck {
  private CoreLeakCheck() {}

  /** A leak check that also waits for every exchange of a {@link RealUpstreamClient} to end. */
  static LeakCheck create() {
    return new LeakCheck()
        .alsoRequireZero("running exchanges", client -> ((RealUpstreamClient) client).activeExchanges());
  }
}
