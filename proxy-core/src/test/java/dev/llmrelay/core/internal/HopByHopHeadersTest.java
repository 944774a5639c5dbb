package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HopByHopHeadersTest {
  @Test
  void hopByHopHeadersAndThoseNamedByConnectionAreDropped() {
    Map<String, List<String>> in = Map.of(
        "Connection", List.of("close, X-Foo"),
        "x-foo", List.of("1"),
        "Keep-Alive", List.of("timeout=5"),
        "Proxy-Authenticate", List.of("Basic"),
        "Proxy-Foo", List.of("1"),
        "Transfer-Encoding", List.of("chunked"),
        "Upgrade", List.of("h2c"),
        "Host", List.of("example"),
        "Content-Length", List.of("3"),
        "X-Ratelimit-Remaining", List.of("7"));

    Map<String, List<String>> out = HopByHopHeaders.endToEnd(in, Set.of());

    assertThat(out.keySet()).containsExactly("X-Ratelimit-Remaining");
    assertThat(out.get("x-ratelimit-remaining")).as("case-insensitive lookup").containsExactly("7");
  }

  @Test
  void extraNamesAreDroppedCaseInsensitively() {
    Map<String, List<String>> out =
        HopByHopHeaders.endToEnd(Map.of("Accept-Encoding", List.of("gzip"), "Accept", List.of("*/*")), Set.of("accept-encoding"));
    assertThat(out.keySet()).containsExactly("Accept");
  }

  @Test
  void okHttpHeadersAreFilteredTheSameWayKeepingRepeatsInOrder() {
    okhttp3.Headers in = new okhttp3.Headers.Builder()
        .add("Content-Type", "application/json")
        .add("Connection", "keep-alive, X-Hop")
        .add("Connection", "X-Other")
        .add("x-hop", "1")
        .add("X-Other", "2")
        .add("Keep-Alive", "timeout=5")
        .add("Transfer-Encoding", "chunked")
        .add("Proxy-Foo", "1")
        .add("Set-Cookie", "a=1")
        .add("set-cookie", "b=2")
        .add("X-Request-Id", "upstream")
        .build();

    Map<String, List<String>> out = HopByHopHeaders.endToEnd(in, Set.of("x-request-id"));

    assertThat(out.keySet()).containsExactly("Content-Type", "Set-Cookie");
    assertThat(out.get("set-cookie")).containsExactly("a=1", "b=2");
    assertThat(out.get("content-type")).containsExactly("application/json");
  }

  @Test
  void withoutAConnectionHeaderOnlyTheFixedOnesGo() {
    okhttp3.Headers in = new okhttp3.Headers.Builder().add("X-Ratelimit-Remaining", "7").add("Upgrade", "h2c").build();
    assertThat(HopByHopHeaders.endToEnd(in, Set.of()).keySet()).containsExactly("X-Ratelimit-Remaining");
  }
}
