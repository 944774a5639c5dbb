package dev.llmrelay.example.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A plain-text table for the benchmark's report: columns as wide as their widest cell, text
 * left-aligned, numbers right-aligned. Not thread-safe.
 */
final class Table {
  private final List<String> header;
  private final List<List<String>> rows = new ArrayList<>();

  Table(String... header) {
    this.header = List.of(header);
  }

  Table row(Object... cells) {
    List<String> row = new ArrayList<>();
    for (Object cell : cells) {
      row.add(cell == null ? "" : cell.toString());
    }
    while (row.size() < header.size()) {
      row.add("");
    }
    rows.add(row);
    return this;
  }

  /** A line across the table, printed as dashes. */
  Table separator() {
    rows.add(null);
    return this;
  }

  String render() {
    int[] width = new int[header.size()];
    for (int i = 0; i < width.length; i++) {
      width[i] = header.get(i).length();
    }
    for (List<String> row : rows) {
      if (row != null) {
        for (int i = 0; i < width.length; i++) {
          width[i] = Math.max(width[i], row.get(i).length());
        }
      }
    }
    StringBuilder out = new StringBuilder();
    line(out, header, width);
    rule(out, width);
    for (List<String> row : rows) {
      if (row == null) {
        rule(out, width);
      } else {
        line(out, row, width);
      }
    }
    return out.toString();
  }

  private static void line(StringBuilder out, List<String> cells, int[] width) {
    StringBuilder line = new StringBuilder();
    for (int i = 0; i < width.length; i++) {
      String cell = cells.get(i);
      boolean number = !cell.isEmpty() && (Character.isDigit(cell.charAt(0)) || cell.charAt(0) == '+'
          || (cell.charAt(0) == '-' && cell.length() > 1 && Character.isDigit(cell.charAt(1))));
      String pad = " ".repeat(width[i] - cell.length());
      line.append(i == 0 ? "" : " | ").append(number ? pad + cell : cell + pad);
    }
    out.append(line.toString().stripTrailing()).append('\n');
  }

  private static void rule(StringBuilder out, int[] width) {
    StringBuilder line = new StringBuilder();
    for (int i = 0; i < width.length; i++) {
      line.append(i == 0 ? "" : "-+-").append("-".repeat(width[i]));
    }
    out.append(line).append('\n');
  }

  static String fmt(double value, int decimals) {
    if (Double.isNaN(value)) {
      return "n/a";
    }
    return String.format(Locale.ROOT, "%." + decimals + "f", value);
  }

  static String signed(double value, int decimals) {
    if (Double.isNaN(value)) {
      return "n/a";
    }
    return String.format(Locale.ROOT, "%+." + decimals + "f", value);
  }

  static String verdict(boolean pass) {
    return pass ? "PASS" : "MISS";
  }
}
