package dev.llmrelay.core.metrics;

import dev.llmrelay.core.jobs.JobStatus;
import dev.llmrelay.core.jobs.RelayJobs;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Objects;

/**
 * Micrometer meters of a {@link RelayJobs} service:
 *
 * <ul>
 *   <li>{@code llmrelay_jobs{status}}: jobs in the store per status (as of the last sweep, every
 *       few seconds), summed over every instance sharing the store;
 *   <li>{@code llmrelay_jobs_running}: jobs running on this instance;
 *   <li>{@code llmrelay_job_claims_total}: claims this instance made (attempts, the first
 *       included);
 *   <li>{@code llmrelay_job_leases_reclaimed_total}: lapsed leases this instance's sweeps
 *       re-queued or failed;
 *   <li>{@code llmrelay_job_leases_lost_total}: runs stopped here because their lease was gone;
 *   <li>{@code llmrelay_job_store_up}: 1 when the store answered the last call, else 0.
 * </ul>
 *
 * Bind it once: {@code new JobMetrics(jobs).bindTo(registry)}. Thread-safe.
 */
public final class JobMetrics implements MeterBinder {
  private final RelayJobs jobs;

  /**
   * Meters for {@code jobs}.
   *
   * @param jobs the job service
   */
  public JobMetrics(RelayJobs jobs) {
    this.jobs = Objects.requireNonNull(jobs, "jobs");
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    for (JobStatus status : JobStatus.values()) {
      Gauge.builder("llmrelay.jobs", jobs, j -> j.stats().byStatus().getOrDefault(status, 0L))
          .description("Jobs in the store by status, as of the last sweep")
          .tag("status", status.wireName())
          .register(registry);
    }
    Gauge.builder("llmrelay.jobs.running", jobs, j -> j.stats().running())
        .description("Jobs running on this instance")
        .register(registry);
    FunctionCounter.builder("llmrelay.job.claims", jobs, j -> j.stats().claims())
        .description("Job claims by this instance (attempts)")
        .register(registry);
    FunctionCounter.builder("llmrelay.job.leases.reclaimed", jobs, j -> j.stats().reclaimed())
        .description("Lapsed job leases this instance re-queued or failed")
        .register(registry);
    FunctionCounter.builder("llmrelay.job.leases.lost", jobs, j -> j.stats().leasesLost())
        .description("Job runs stopped on this instance because their lease was gone")
        .register(registry);
    Gauge.builder("llmrelay.job.store.up", jobs, j -> j.stats().storeUp() ? 1 : 0)
        .description("1 when the job store answered the last call")
        .register(registry);
  }
}
