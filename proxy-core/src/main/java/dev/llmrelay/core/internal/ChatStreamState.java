package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * What a client has been sent of a chat completion stream, kept so that a broken stream can be
 * continued: the concatenated {@code delta.content} of choice 0, the stream's {@code id} and
 * {@code created}, and what makes it impossible to continue (tool calls, several choices).
 *
 * <p>Each forwarded data event is read once with Jackson's streaming parser (no tree); only the
 * events of a continuation are rewritten, to carry the original {@code id} and {@code created}.
 * Not thread-safe: one per stream, used by the exchange's thread.
 */
final class ChatStreamState {
  /** How one data event reads. */
  enum Kind {
    /** An ordinary chunk. */
    CHUNK,
    /** {@code data: [DONE]}. */
    DONE,
    /** An upstream's in-band failure: {@code finish_reason: "error"} or a top-level {@code error}. */
    ERROR
  }

  private final StringBuilder content = new StringBuilder();
  private String id;
  private long created = -1;
  private boolean toolCalls;
  private boolean severalChoices;
  private boolean finished;

  /** Reads one data payload ({@code [from, to)} of {@code buf}) and records what it adds. */
  Kind observe(byte[] buf, int from, int to) {
    if (to - from == 6 && new String(buf, from, 6, StandardCharsets.US_ASCII).equals("[DONE]")) {
      return Kind.DONE;
    }
    boolean error = false;
    try (JsonParser p = Json.FACTORY.createParser(buf, from, to - from)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return Kind.CHUNK;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken value = p.nextToken();
        switch (name) {
          case "id" -> {
            if (id == null && value == JsonToken.VALUE_STRING) {
              id = p.getText();
            }
          }
          case "created" -> {
            if (created < 0 && value == JsonToken.VALUE_NUMBER_INT) {
              created = p.getLongValue();
            }
          }
          case "error" -> {
            if (value != JsonToken.VALUE_NULL) {
              error = true;
            }
            p.skipChildren();
          }
          case "choices" -> {
            if (value == JsonToken.START_ARRAY) {
              while (p.nextToken() == JsonToken.START_OBJECT) {
                error |= choice(p);
              }
            } else {
              p.skipChildren();
            }
          }
          default -> p.skipChildren();
        }
      }
    } catch (IOException malformed) {
      return Kind.CHUNK; // forwarded as the upstream sent it; it adds nothing we can continue
    }
    return error ? Kind.ERROR : Kind.CHUNK;
  }

  /** Reads one choice object (the parser is on its START_OBJECT); true if it reports an error. */
  private boolean choice(JsonParser p) throws IOException {
    int index = 0;
    String text = null;
    String finish = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken value = p.nextToken();
      if ("index".equals(name) && value == JsonToken.VALUE_NUMBER_INT) {
        index = p.getIntValue();
      } else if ("finish_reason".equals(name) && value == JsonToken.VALUE_STRING) {
        finish = p.getText();
      } else if ("delta".equals(name) && value == JsonToken.START_OBJECT) {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          JsonToken v = p.nextToken();
          if ("content".equals(field) && v == JsonToken.VALUE_STRING) {
            text = p.getText();
          } else if (("tool_calls".equals(field) || "function_call".equals(field)) && v != JsonToken.VALUE_NULL) {
            toolCalls = true;
            p.skipChildren();
          } else {
            p.skipChildren();
          }
        }
      } else {
        p.skipChildren();
      }
    }
    if (index != 0) {
      severalChoices = true;
    } else if (text != null) {
      content.append(text);
    }
    if ("error".equals(finish)) {
      return true;
    }
    if (finish != null) {
      finished = true;
    }
    return false;
  }

  /** The assistant text sent so far (choice 0). */
  String content() {
    return content.toString();
  }

  /** Characters sent so far. */
  int length() {
    return content.length();
  }

  boolean finished() {
    return finished;
  }

  /** Why this stream cannot be continued, or null when it can. */
  String notContinuable(int maxChars) {
    if (toolCalls) {
      return "the stream carries tool calls";
    }
    if (severalChoices) {
      return "the stream has several choices";
    }
    if (content.length() > maxChars) {
      return "the answer is longer than MAX_CONTINUATION_CHARS";
    }
    return null;
  }

  /**
   * A continuation's data event as the client will see it: the original {@code id} and {@code
   * created}, and no {@code role} (the client had the stream's one role delta already); null to
   * drop it (not an object, or a role-only opening chunk that adds nothing).
   */
  ObjectNode continuationChunk(byte[] buf, int from, int to) {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(buf, from, to - from);
    } catch (IOException e) {
      return null;
    }
    if (!(node instanceof ObjectNode chunk)) {
      return null;
    }
    JsonNode delta = chunk.path("choices").path(0).path("delta");
    if (delta instanceof ObjectNode d) {
      d.remove("role");
    }
    if (textOf(chunk).isEmpty() && !hasFinish(chunk) && !chunk.has("usage") && !chunk.has("error")) {
      return null;
    }
    if (id != null) {
      chunk.put("id", id);
    }
    if (created >= 0) {
      chunk.put("created", created);
    }
    return chunk;
  }

  /** Records a continuation chunk the client is about to receive (its text, its finish). */
  void record(ObjectNode chunk) {
    content.append(textOf(chunk));
    if (hasFinish(chunk)) {
      finished = true;
    }
  }

  /** Choice 0's {@code delta.content}, or "". */
  static String textOf(ObjectNode chunk) {
    JsonNode c = chunk.path("choices").path(0).path("delta").path("content");
    return c.isTextual() ? c.asText() : "";
  }

  /** Replaces choice 0's {@code delta.content}. */
  static void setText(ObjectNode chunk, String text) {
    JsonNode delta = chunk.path("choices").path(0).path("delta");
    if (delta instanceof ObjectNode d) {
      d.put("content", text);
    }
  }

  /** A non-null {@code finish_reason} other than {@code error} on choice 0. */
  static boolean hasFinish(ObjectNode chunk) {
    JsonNode f = chunk.path("choices").path(0).path("finish_reason");
    return f.isTextual() && !"error".equals(f.asText());
  }

  /** An upstream's in-band failure: a top-level {@code error} or {@code finish_reason: "error"}. */
  static boolean isError(ObjectNode chunk) {
    return (chunk.has("error") && !chunk.get("error").isNull())
        || "error".equals(chunk.path("choices").path(0).path("finish_reason").asText(""));
  }

  /** {@code data: <chunk>} and the blank line that ends the event. */
  static byte[] render(ObjectNode chunk) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream(256);
      out.write(DATA_PREFIX);
      try (JsonGenerator json = Json.FACTORY.createGenerator(out)) {
        Json.MAPPER.writeTree(json, chunk);
      }
      out.write(EVENT_END);
      return out.toByteArray();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static final byte[] DATA_PREFIX = "data: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);
}
