package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The final in-band event of a stream that broke after its commit point: OpenAI's chunk shape
 * with {@code finish_reason: "error"} and an {@code error} object (code {@code
 * upstream_stream_interrupted}), so that a truncated stream never looks like a success. Stateless.
 */
final class ErrorEvents {
  private ErrorEvents() {}

  /**
   * @param firstPayload the stream's first data payload (for its id, model and created), or null
   * @param fallbackId the id when the stream had none
   * @param model the requested model, or null
   * @param chat whether the stream is a chat completion (else a text completion)
   * @param reason why it broke, a sentence
   */
  static byte[] interrupted(byte[] firstPayload, String fallbackId, String model, boolean chat, String reason) {
    String id = fallbackId;
    long created = System.currentTimeMillis() / 1000;
    if (firstPayload != null) {
      try {
        JsonNode first = Json.MAPPER.readTree(firstPayload);
        id = first.path("id").asText(id);
        model = first.path("model").asText(model);
        created = first.path("created").asLong(created);
      } catch (IOException ignored) {
        // keep the relay's own id
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try {
      out.write("data: ".getBytes(StandardCharsets.US_ASCII));
      try (JsonGenerator json = Json.FACTORY.createGenerator(out)) {
        json.writeStartObject();
        json.writeStringField("id", id);
        json.writeStringField("object", chat ? "chat.completion.chunk" : "text_completion");
        json.writeNumberField("created", created);
        if (model != null) {
          json.writeStringField("model", model);
        }
        json.writeArrayFieldStart("choices");
        json.writeStartObject();
        json.writeNumberField("index", 0);
        if (chat) {
          json.writeObjectFieldStart("delta");
          json.writeEndObject();
        } else {
          json.writeStringField("text", "");
        }
        json.writeStringField("finish_reason", "error");
        json.writeEndObject();
        json.writeEndArray();
        json.writeObjectFieldStart("error");
        json.writeStringField("message", "The upstream stream was interrupted: " + reason + ". The answer is incomplete.");
        json.writeStringField("type", "proxy_error");
        json.writeNullField("param");
        json.writeStringField("code", "upstream_stream_interrupted");
        json.writeEndObject();
        json.writeEndObject();
      }
      out.write("\n\n".getBytes(StandardCharsets.US_ASCII));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
