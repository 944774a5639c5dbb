package dev.llmrelay.example.simulate;

import java.util.SplittableRandom;

/**
 * Decides, per inference request, which fault (if any) it gets, from the configured rates or from
 * the fault the request asked for.
 *
 * <p>Every call takes the same six values from one seeded {@link SplittableRandom}, in a fixed
 * order (timeout, error, error kind, rate limit, stream cut, cut point), whether or not a fault was
 * requested and whether or not the request streams. So the n-th inference request to arrive gets
 * the same decision for the same seed, and changing one rate does not reshuffle which requests get
 * the other faults. The first fault whose draw falls below its rate wins.
 *
 * <p>Thread-safe: the six draws of one call are taken under a lock, so concurrent requests each
 * get a consistent set; which request gets which set then depends on their order of arrival.
 */
final class FaultPicker {
  /** Share of simulated 5xx answers that are a CDN's HTML 502 rather than JSON. */
  static final double HTML_SHARE_OF_ERRORS = 0.25;

  private static final int[] JSON_ERROR_STATUSES = {500, 502, 503};

  private final SimulatorConfig config;
  private final SplittableRandom random; // guarded by this

  FaultPicker(SimulatorConfig config) {
    this.config = config;
    this.random = new SplittableRandom(config.seed());
  }

  /**
   * The plan for the next inference request.
   *
   * @param streaming whether the request asked for a stream (only streams are cut by rate)
   * @param requested the fault named by the request's header, or {@code null} to use the rates
   */
  FaultPlan pick(boolean streaming, SimulatedFault requested) {
    double timeoutDraw;
    double errorDraw;
    double errorKindDraw;
    double rateLimitDraw;
    double cutDraw;
    double cutPointDraw;
    synchronized (this) {
      timeoutDraw = random.nextDouble();
      errorDraw = random.nextDouble();
      errorKindDraw = random.nextDouble();
      rateLimitDraw = random.nextDouble();
      cutDraw = random.nextDouble();
      cutPointDraw = random.nextDouble();
    }
    int events = config.streamChunks();
    if (requested != null) {
      return switch (requested) {
        case NONE -> FaultPlan.NONE;
        case TIMEOUT -> new FaultPlan(SimulatedFault.TIMEOUT, 0, 0);
        case ERROR -> new FaultPlan(SimulatedFault.ERROR, jsonErrorStatus(errorKindDraw), 0);
        case HTML_ERROR -> new FaultPlan(SimulatedFault.HTML_ERROR, 502, 0);
        case RATE_LIMIT -> new FaultPlan(SimulatedFault.RATE_LIMIT, 429, 0);
        case CUT -> new FaultPlan(SimulatedFault.CUT, 200, Math.max(1, events / 2));
      };
    }
    if (timeoutDraw < config.timeoutRate()) {
      return new FaultPlan(SimulatedFault.TIMEOUT, 0, 0);
    }
    if (errorDraw < config.errorRate()) {
      if (errorKindDraw < HTML_SHARE_OF_ERRORS) {
        return new FaultPlan(SimulatedFault.HTML_ERROR, 502, 0);
      }
      double jsonKind = (errorKindDraw - HTML_SHARE_OF_ERRORS) / (1.0 - HTML_SHARE_OF_ERRORS);
      return new FaultPlan(SimulatedFault.ERROR, jsonErrorStatus(jsonKind), 0);
    }
    if (rateLimitDraw < config.rateLimitRate()) {
      return new FaultPlan(SimulatedFault.RATE_LIMIT, 429, 0);
    }
    if (streaming && cutDraw < config.streamCutRate()) {
      int cutAfter = 1 + (int) (cutPointDraw * (events - 1)); // 1 .. events - 1
      return new FaultPlan(SimulatedFault.CUT, 200, Math.min(cutAfter, events - 1));
    }
    return FaultPlan.NONE;
  }

  /**
   * The plan for a request to an endpoint that draws nothing ({@code /v1/models}, {@code /v1/key}):
   * only the requested fault, with fixed statuses.
   */
  static FaultPlan requestedOnly(SimulatedFault requested) {
    if (requested == null) {
      return FaultPlan.NONE;
    }
    return switch (requested) {
      case NONE -> FaultPlan.NONE;
      case TIMEOUT -> new FaultPlan(SimulatedFault.TIMEOUT, 0, 0);
      case ERROR -> new FaultPlan(SimulatedFault.ERROR, 502, 0);
      case HTML_ERROR -> new FaultPlan(SimulatedFault.HTML_ERROR, 502, 0);
      case RATE_LIMIT -> new FaultPlan(SimulatedFault.RATE_LIMIT, 429, 0);
      case CUT -> new FaultPlan(SimulatedFault.CUT, 200, 0);
    };
  }

  private static int jsonErrorStatus(double draw) {
    int index = Math.min((int) (draw * JSON_ERROR_STATUSES.length), JSON_ERROR_STATUSES.length - 1);
    return JSON_ERROR_STATUSES[index];
  }
}
