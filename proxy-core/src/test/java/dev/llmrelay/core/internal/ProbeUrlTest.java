package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.RelayConfig;
import java.time.Clock;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import okhttp3.OkHttpClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Which URL the health probe asks, offline. */
class ProbeUrlTest {
  private final ScheduledThreadPoolExecutor scheduler = Threads.newScheduler("test-");
  private final OkHttpClient okHttp = new OkHttpClient();

  @AfterEach
  void stop() {
    scheduler.shutdownNow();
    okHttp.dispatcher().executorService().shutdown();
  }

  private String probeUrl(RelayConfig config) {
    return new RealHealthProbe(config, okHttp, scheduler, Clock.systemUTC()).probeUrl().toString();
  }

  @Test
  void openRouterWithAKeyAsksTheKeyEndpointWhichAlsoValidatesTheKey() {
    assertThat(probeUrl(RelayConfig.builder().upstreamApiKey("sk-or-1").build()))
        .isEqualTo("https://openrouter.ai/api/v1/key");
  }

  @Test
  void withoutAKeyOrForAnotherUpstreamTheModelsListIsAsked() {
    assertThat(probeUrl(RelayConfig.builder().build())).isEqualTo("https://openrouter.ai/api/v1/models");
    assertThat(probeUrl(RelayConfig.builder().upstreamBaseUrl("https://api.openai.com/v1").upstreamApiKey("sk").build()))
        .isEqualTo("https://api.openai.com/v1/models");
  }

  @Test
  void aConfiguredHealthPathWins() {
    assertThat(probeUrl(RelayConfig.builder().upstreamApiKey("sk").healthPath("/health/ready").build()))
        .isEqualTo("https://openrouter.ai/api/v1/health/ready");
  }
}
