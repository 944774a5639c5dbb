package dev.llmrelay.example.simulate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FaultPickerTest {
  private static final SimulatorConfig SOME_OF_EVERYTHING = SimulatorConfig.builder()
      .seed(7)
      .timeoutRate(0.1)
      .errorRate(0.2)
      .rateLimitRate(0.2)
      .streamCutRate(0.3)
      .build();

  @Test
  void sameSeedGivesTheSameDecisionsInTheSameOrder() {
    List<FaultPlan> first = picks(new FaultPicker(SOME_OF_EVERYTHING), 200);
    List<FaultPlan> second = picks(new FaultPicker(SOME_OF_EVERYTHING), 200);

    assertThat(second).as("decisions of a second picker with the same seed").isEqualTo(first);
    assertThat(first).extracting(FaultPlan::fault).as("a mix of faults")
        .contains(SimulatedFault.NONE, SimulatedFault.TIMEOUT, SimulatedFault.ERROR,
            SimulatedFault.HTML_ERROR, SimulatedFault.RATE_LIMIT, SimulatedFault.CUT);
  }

  @Test
  void requestedFaultDoesNotShiftTheDecisionsOfLaterRequests() {
    FaultPicker plain = new FaultPicker(SOME_OF_EVERYTHING);
    FaultPicker withOverride = new FaultPicker(SOME_OF_EVERYTHING);

    plain.pick(true, null);
    withOverride.pick(true, SimulatedFault.RATE_LIMIT);

    assertThat(picks(withOverride, 50)).as("decisions after an overridden request")
        .isEqualTo(picks(plain, 50));
  }

  @Test
  void earlierFaultWinsWhenSeveralDrawsHit() {
    FaultPicker picker = new FaultPicker(
        SimulatorConfig.builder().seed(1).timeoutRate(1).errorRate(1).rateLimitRate(1).build());

    assertThat(picks(picker, 20)).extracting(FaultPlan::fault).as("timeout drawn first")
        .containsOnly(SimulatedFault.TIMEOUT);
  }

  @Test
  void cutStreamsStopAfterAtLeastOneAndBeforeTheLastEvent() {
    FaultPicker picker = new FaultPicker(
        SimulatorConfig.builder().seed(3).noFaults().streamCutRate(1).streamChunks(5).build());

    List<FaultPlan> plans = picks(picker, 500);

    assertThat(plans).extracting(FaultPlan::cutAfterEvents).as("events sent before the cut")
        .allMatch(events -> events >= 1 && events <= 4)
        .contains(1, 4);
    assertThat(picker.pick(false, null)).as("a non-streaming request is never cut by rate")
        .isEqualTo(FaultPlan.NONE);
  }

  @Test
  void jsonErrorsUseAllThreeStatusesAndAQuarterAreHtml() {
    FaultPicker picker = new FaultPicker(SimulatorConfig.builder().seed(11).noFaults()
        .errorRate(1).build());

    List<FaultPlan> plans = picks(picker, 2000);

    long html = plans.stream().filter(p -> p.fault() == SimulatedFault.HTML_ERROR).count();
    assertThat(html).as("HTML 502 pages among 2000 errors").isBetween(400L, 600L);
    assertThat(plans).filteredOn(p -> p.fault() == SimulatedFault.ERROR)
        .extracting(FaultPlan::status).as("JSON error statuses")
        .containsOnly(500, 502, 503).contains(500, 502, 503);
  }

  private static List<FaultPlan> picks(FaultPicker picker, int count) {
    List<FaultPlan> plans = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      plans.add(picker.pick(true, null));
    }
    return plans;
  }
}
