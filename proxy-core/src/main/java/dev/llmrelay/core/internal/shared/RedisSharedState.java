package dev.llmrelay.core.internal.shared;

import dev.llmrelay.core.shared.SharedState;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Shared state in Redis through Lettuce: one Lua script per operation, each reading Redis's own
 * {@code TIME}, so the operation is atomic and its clock is the server's. Permits are a sorted
 * set ({@code llmrelay:permits}, lease id scored by its expiry in ms); hints a hash ({@code
 * llmrelay:route-hints}, route to its end in ms).
 *
 * <p>One connection, opened lazily and again after a failure; while it is down, commands fail at
 * once instead of queueing. Lettuce's own event-loop threads are created here with small pools and
 * stopped by {@link #close()}. Thread-safe.
 */
public final class RedisSharedState implements SharedState {
  private static final String NOW =
      "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";
  private static final String ACQUIRE = NOW
      + "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
      + "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then "
      + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1]) return 1 end return 0";
  private static final String RENEW = NOW
      + "local s = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
      + "if s and tonumber(s) > now then redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1]) return 1 end "
      + "redis.call('ZREM', KEYS[1], ARGV[1]) return 0";
  private static final String RELEASE = "redis.call('ZREM', KEYS[1], ARGV[1]) return 1";
  private static final String HELD = NOW + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')";
  private static final String PUBLISH = NOW
      + "local till = now + tonumber(ARGV[2]) local old = redis.call('HGET', KEYS[1], ARGV[1]) "
      + "if (not old) or tonumber(old) < till then redis.call('HSET', KEYS[1], ARGV[1], till) end return 1";
  private static final String OPEN_ROUTES = NOW
      + "local all = redis.call('HGETALL', KEYS[1]) local out = {} "
      + "for i = 1, #all, 2 do local left = tonumber(all[i + 1]) - now "
      + "if left > 0 then out[#out + 1] = all[i] out[#out + 1] = tostring(left) "
      + "else redis.call('HDEL', KEYS[1], all[i]) end end return out";
  private static final String[] PERMITS = {"llmrelay:permits"};
  private static final String[] HINTS = {"llmrelay:route-hints"};

  private final ClientResources resources;
  private final RedisClient client;
  private final RedisURI uri;
  private final Duration timeout;
  private volatile CompletableFuture<StatefulRedisConnection<String, String>> connection;

  private RedisSharedState(ClientResources resources, RedisClient client, RedisURI uri, Duration timeout) {
    this.resources = resources;
    this.client = client;
    this.uri = uri;
    this.timeout = timeout;
  }

  /** A Redis shared state for {@code url}; connects on first use. */
  public static RedisSharedState create(String url, Duration timeout) {
    RedisURI uri = RedisURI.create(url);
    uri.setTimeout(timeout);
    ClientResources resources =
        DefaultClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(1).build();
    RedisClient client = RedisClient.create(resources);
    client.setOptions(
        ClientOptions.builder()
            .autoReconnect(true)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .socketOptions(SocketOptions.builder().connectTimeout(timeout.multipliedBy(4)).keepAlive(true).build())
            .timeoutOptions(TimeoutOptions.enabled(timeout))
            .build());
    return new RedisSharedState(resources, client, uri, timeout);
  }

  private CompletableFuture<StatefulRedisConnection<String, String>> connection() {
    CompletableFuture<StatefulRedisConnection<String, String>> c = connection;
    if (c != null && (!c.isDone() || (!c.isCompletedExceptionally() && c.join().isOpen()))) {
      return c;
    }
    synchronized (this) {
      c = connection;
      if (c == null || (c.isDone() && (c.isCompletedExceptionally() || !c.join().isOpen()))) {
        if (c != null && c.isDone() && !c.isCompletedExceptionally()) {
          c.join().closeAsync();
        }
        c = client.connectAsync(StringCodec.UTF8, uri).toCompletableFuture();
        connection = c;
      }
      return c;
    }
  }

  private <T> CompletionStage<T> eval(String script, ScriptOutputType type, String[] keys, String... args) {
    return connection()
        .thenCompose(c -> c.async().<T>eval(script, type, keys, args).toCompletableFuture())
        .orTimeout(timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
  }

  @Override
  public CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease) {
    return this.<Long>eval(ACQUIRE, ScriptOutputType.INTEGER, PERMITS,
            leaseId, Integer.toString(limit), Long.toString(lease.toMillis()))
        .thenApply(r -> r == 1L);
  }

  @Override
  public CompletionStage<Boolean> renew(String leaseId, Duration lease) {
    return this.<Long>eval(RENEW, ScriptOutputType.INTEGER, PERMITS, leaseId, Long.toString(lease.toMillis()))
        .thenApply(r -> r == 1L);
  }

  @Override
  public CompletionStage<Void> release(String leaseId) {
    return this.<Long>eval(RELEASE, ScriptOutputType.INTEGER, PERMITS, leaseId).thenApply(r -> null);
  }

  @Override
  public CompletionStage<Integer> held() {
    return this.<Long>eval(HELD, ScriptOutputType.INTEGER, PERMITS).thenApply(Long::intValue);
  }

  @Override
  public CompletionStage<Void> publishOpenRoute(String route, Duration openFor) {
    return this.<Long>eval(PUBLISH, ScriptOutputType.INTEGER, HINTS, route, Long.toString(openFor.toMillis()))
        .thenApply(r -> null);
  }

  @Override
  public CompletionStage<Map<String, Duration>> openRoutes() {
    return this.<List<Object>>eval(OPEN_ROUTES, ScriptOutputType.MULTI, HINTS)
        .thenApply(list -> {
          Map<String, Duration> open = new HashMap<>();
          for (int i = 0; i + 1 < list.size(); i += 2) {
            open.put(String.valueOf(list.get(i)), Duration.ofMillis(Long.parseLong(String.valueOf(list.get(i + 1)))));
          }
          return open;
        });
  }

  @Override
  public void close() {
    CompletableFuture<StatefulRedisConnection<String, String>> c = connection;
    if (c != null && c.isDone() && !c.isCompletedExceptionally()) {
      c.join().close();
    }
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    java.util.concurrent.Future<Boolean> stopped = resources.shutdown(0, 2, TimeUnit.SECONDS);
    try {
      stopped.get(3, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      // its threads are daemons and end on their own
    }
  }
}
