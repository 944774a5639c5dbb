package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The job endpoints' paths and methods. */
class JobRouteTest {
  private static final String ID = "job_0123456789abcdef0123456789abcdef";

  @Test
  void eachPathIsItsEndpoint() {
    assertThat(JobRoute.parse("/v1/relay/jobs")).isEqualTo(new JobRoute(JobRoute.Kind.COLLECTION, null));
    assertThat(JobRoute.parse("/v1/relay/jobs/")).isEqualTo(new JobRoute(JobRoute.Kind.COLLECTION, null));
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID)).isEqualTo(new JobRoute(JobRoute.Kind.JOB, ID));
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID + "/result")).isEqualTo(new JobRoute(JobRoute.Kind.RESULT, ID));
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID + "/cancel")).isEqualTo(new JobRoute(JobRoute.Kind.CANCEL, ID));
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID + "/other")).isNull();
    assertThat(JobRoute.parse("/v1/relay/jobsx")).isNull();
    assertThat(JobRoute.parse("/v1/chat/completions")).isNull();
  }

  @Test
  void methodsAndIds() {
    assertThat(JobRoute.parse("/v1/relay/jobs").allows("POST")).isTrue();
    assertThat(JobRoute.parse("/v1/relay/jobs").isSubmission("POST")).isTrue();
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID).allows("DELETE")).isTrue();
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID).allows("POST")).isFalse();
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID + "/cancel").allows("GET")).isFalse();
    assertThat(JobRoute.parse("/v1/relay/jobs/" + ID).plausibleId()).isTrue();
    assertThat(JobRoute.parse("/v1/relay/jobs/job_ABC").plausibleId()).isFalse();
    assertThat(JobRoute.parse("/v1/relay/jobs/..%2f").plausibleId()).isFalse();
  }
}
