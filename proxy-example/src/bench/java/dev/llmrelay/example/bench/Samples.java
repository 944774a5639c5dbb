package dev.llmrelay.example.bench;

import java.util.Arrays;
import java.util.List;

/**
 * A growable list of durations in nanoseconds with nearest-rank percentiles. Every sample is
 * kept (no histogram buckets), so a percentile is exact; a benchmark run holds at most a few
 * hundred thousand of them.
 *
 * <p>Thread-safe: every method is synchronized.
 */
final class Samples {
  private long[] values = new long[256];
  private int size;
  private boolean sorted = true;

  synchronized void add(long nanos) {
    if (size == values.length) {
      values = Arrays.copyOf(values, size * 2);
    }
    values[size++] = nanos;
    sorted = false;
  }

  void addAll(Samples other) {
    long[] copy;
    synchronized (other) {
      copy = Arrays.copyOf(other.values, other.size);
    }
    synchronized (this) {
      for (long v : copy) {
        add(v);
      }
    }
  }

  synchronized int count() {
    return size;
  }

  /** The {@code p}-th percentile (0..100) in milliseconds, nearest rank; NaN when empty. */
  synchronized double percentileMillis(double p) {
    if (size == 0) {
      return Double.NaN;
    }
    sort();
    int rank = (int) Math.ceil(p / 100.0 * size);
    int index = Math.min(size - 1, Math.max(0, rank - 1));
    return values[index] / 1e6;
  }

  synchronized double maxMillis() {
    return percentileMillis(100);
  }

  synchronized double minMillis() {
    return percentileMillis(0);
  }

  /** How many samples are below {@code nanos}. */
  synchronized long countBelow(long nanos) {
    long n = 0;
    for (int i = 0; i < size; i++) {
      if (values[i] < nanos) {
        n++;
      }
    }
    return n;
  }

  private void sort() {
    if (!sorted) {
      Arrays.sort(values, 0, size);
      sorted = true;
    }
  }

  /** The median of {@code xs} (mean of the middle two for an even count); NaN when empty. */
  static double median(List<Double> xs) {
    double[] v = xs.stream().filter(x -> !Double.isNaN(x)).mapToDouble(Double::doubleValue).sorted().toArray();
    if (v.length == 0) {
      return Double.NaN;
    }
    int mid = v.length / 2;
    return v.length % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }
}
