package dev.llmrelay.core.enginetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.testing.RedisEngine;
import dev.llmrelay.core.testing.RequiresRedis;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The private Redis server that tests get: answers RESP on loopback, stops, starts, and goes away. */
@RequiresRedis
class RedisEngineTest {

  /** One raw RESP exchange: {@code request} as is, the first line of the reply (without CRLF). */
  private static String exchange(int port, String request) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(5_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      InputStream in = socket.getInputStream();
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      for (int b = in.read(); b != '\n'; b = in.read()) {
        if (b < 0) {
          throw new IOException("closed after " + line);
        }
        if (b != '\r') {
          line.write(b);
        }
      }
      return line.toString(StandardCharsets.US_ASCII);
    }
  }

  private static String ping(int port) throws IOException {
    return exchange(port, "*1\r\n$4\r\nPING\r\n");
  }

  @Test
  void answersPingOverARawSocket(RedisEngine redis) throws IOException {
    assertThat(redis.uri()).isEqualTo("redis://127.0.0.1:" + redis.port());
    assertThat(ping(redis.port())).isEqualTo("+PONG");
  }

  @Test
  void stopsAndStartsAgainOnTheSamePortEmpty(RedisEngine redis) throws IOException {
    int port = redis.port();
    assertThat(exchange(port, "*3\r\n$3\r\nSET\r\n$5\r\nlease\r\n$1\r\n1\r\n")).isEqualTo("+OK");
    try {
      redis.stop();
      assertThat(redis.isRunning()).isFalse();
      assertThatThrownBy(() -> ping(port)).isInstanceOf(ConnectException.class);

      redis.start();
      assertThat(redis.port()).isEqualTo(port);
      assertThat(ping(port)).isEqualTo("+PONG");
      assertThat(exchange(port, "*2\r\n$3\r\nGET\r\n$5\r\nlease\r\n")).as("nothing persisted").isEqualTo("$-1");
    } finally {
      redis.start();
    }
  }

  @Test
  void flushAllEmptiesIt(RedisEngine redis) throws IOException {
    assertThat(exchange(redis.port(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")).isEqualTo("+OK");
    redis.flushAll();
    assertThat(exchange(redis.port(), "*1\r\n$6\r\nDBSIZE\r\n")).isEqualTo(":0");
  }

  @Test
  void theSharedServerIsNotClosedByTests(RedisEngine redis) {
    assertThat(redis).isSameAs(RedisEngine.shared());
    assertThatThrownBy(redis::close).isInstanceOf(IllegalStateException.class).hasMessageContaining("shutdown hook");
    assertThat(redis.isRunning()).isTrue();
  }

  @Test
  void aPrivateServerSurvivesAKillAndIsGoneWhenClosed() throws IOException {
    Path dir;
    int port;
    try (RedisEngine redis = RedisEngine.builder().start()) {
      dir = redis.directory();
      port = redis.port();
      redis.kill();
      assertThat(redis.isRunning()).isFalse();
      redis.start();
      assertThat(ping(port)).isEqualTo("+PONG");
    }
    assertThat(dir).doesNotExist();
    assertThatThrownBy(() -> ping(port)).isInstanceOf(ConnectException.class);
  }

  @Test
  void aRestartOnATakenPortFailsWithTheLog() throws IOException {
    try (RedisEngine redis = RedisEngine.builder().startTimeout(Duration.ofSeconds(10)).start()) {
      redis.stop();
      try (ServerSocket squatter = new ServerSocket()) {
        squatter.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), redis.port()));
        assertThatThrownBy(redis::start)
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("port " + redis.port())
            .hasMessageContaining("Address already in use");
      }
      redis.start();
      assertThat(ping(redis.port())).isEqualTo("+PONG");
    }
  }
}
