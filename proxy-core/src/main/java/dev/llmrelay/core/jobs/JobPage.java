package dev.llmrelay.core.jobs;

import java.util.List;

/**
 * One page of an owner's jobs, newest first, without bodies.
 *
 * @param jobs the jobs on this page
 * @param hasMore whether older jobs follow the last one
 */
public record JobPage(List<Job> jobs, boolean hasMore) {
  /**
   * Freezes the list.
   *
   * @param jobs the jobs on this page
   * @param hasMore whether older jobs follow the last one
   */
  public JobPage {
    jobs = List.copyOf(jobs);
  }
}
