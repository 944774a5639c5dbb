package dev.llmrelay.servlet.internal;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One of the job endpoints below the relay's prefix, with the methods it allows:
 *
 * <ul>
 *   <li>{@code /v1/relay/jobs}: {@code GET} lists, {@code POST} submits (the explicit form);
 *   <li>{@code /v1/relay/jobs/{id}}: {@code GET} reads, {@code DELETE} deletes;
 *   <li>{@code /v1/relay/jobs/{id}/result}: {@code GET};
 *   <li>{@code /v1/relay/jobs/{id}/cancel}: {@code POST}.
 * </ul>
 *
 * A path segment that is not a job id's shape ({@code job_} and 32 lowercase hex digits) is still
 * this route (the answer is 404 {@code job_not_found}, without asking the store). Immutable.
 *
 * @param kind which endpoint
 * @param id the job id, or null for the collection
 */
public record JobRoute(Kind kind, String id) {
  /** The collection's path. */
  public static final String COLLECTION = "/v1/relay/jobs";
  private static final Pattern ONE = Pattern.compile("/v1/relay/jobs/([^/]+)(?:/(result|cancel))?/?");
  private static final Pattern ID = Pattern.compile("job_[0-9a-f]{32}");

  /** The job endpoints. */
  public enum Kind {
    /** {@code /v1/relay/jobs}. */
    COLLECTION("GET, POST"),
    /** {@code /v1/relay/jobs/{id}}. */
    JOB("GET, DELETE"),
    /** {@code /v1/relay/jobs/{id}/result}. */
    RESULT("GET"),
    /** {@code /v1/relay/jobs/{id}/cancel}. */
    CANCEL("POST");

    private final String allow;

    Kind(String allow) {
      this.allow = allow;
    }

    /** {@return the {@code Allow} header of this endpoint} */
    public String allow() {
      return allow;
    }
  }

  /**
   * The route of a path below the relay's prefix.
   *
   * @param relayPath the path below the prefix
   * @return the route, or null when the path is not a job endpoint
   */
  public static JobRoute parse(String relayPath) {
    if (relayPath.equals(COLLECTION) || relayPath.equals(COLLECTION + "/")) {
      return new JobRoute(Kind.COLLECTION, null);
    }
    Matcher m = ONE.matcher(relayPath);
    if (!m.matches()) {
      return null;
    }
    Kind kind = m.group(2) == null ? Kind.JOB : m.group(2).equals("result") ? Kind.RESULT : Kind.CANCEL;
    return new JobRoute(kind, m.group(1));
  }

  /** {@return whether {@code method} is allowed here} */
  public boolean allows(String method) {
    for (String m : kind.allow.split(", ")) {
      if (m.equals(method)) {
        return true;
      }
    }
    return false;
  }

  /** {@return true when the id has the shape of a job id, so the store may know it} */
  public boolean plausibleId() {
    return id != null && ID.matcher(id).matches();
  }

  /** {@return true for the explicit submission, the one job request with a body} */
  public boolean isSubmission(String method) {
    return kind == Kind.COLLECTION && method.equals("POST");
  }
}
