package dev.llmrelay.core.testing;

import java.lang.reflect.AnnotatedElement;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * Real engines for tests: the JVM's {@link PostgresEngine#shared() shared PostgreSQL cluster} and
 * {@link RedisEngine#shared() shared Redis server}, started on first use, given to tests as
 * parameters, and never silently missing on CI.
 *
 * <p>Normally registered through {@link RequiresPostgres} and {@link RequiresRedis} on a test class
 * (or method): before the class (or method) the engine is started; if it is not installed, the
 * tests are skipped on a developer's machine and fail under {@code CI=true}
 * ({@link MissingEnginePolicy}). Any constructor, lifecycle or test method parameter of type
 * {@link PostgresEngine} or {@link RedisEngine} then gets the shared engine:
 *
 * <pre>{@code
 * @RequiresPostgres
 * class JobStoreTest {
 *   static String url;
 *
 *   @BeforeAll
 *   static void database(PostgresEngine pg) {
 *     url = pg.createDatabase("job_store_test");
 *   }
 *
 *   @Test
 *   void survivesACrash(PostgresEngine pg) throws Exception {
 *     ... commit through DriverManager.getConnection(url, pg.user(), pg.password()) ...
 *     pg.stopImmediately();
 *     pg.start();
 *     ... still there ...
 *   }
 * }
 * }</pre>
 *
 * <p>Without the annotations, code that runs in a test can ask {@link #postgres()} or
 * {@link #redis()}, which apply the same policy.
 *
 * <p>After each class it starts a shared engine again if the class left it stopped, so that one
 * class's failure test cannot break the next class. The engines are shared by the classes of one
 * JVM, which run one after another: a test that stops an engine must not run in parallel with
 * others that use it.
 */
public final class EngineExtension
    implements ExecutionCondition, BeforeAllCallback, BeforeEachCallback, AfterAllCallback, ParameterResolver {
  /** Registered by {@link RequiresPostgres}, {@link RequiresRedis} or {@code @ExtendWith}. */
  public EngineExtension() {}

  /**
   * The shared PostgreSQL cluster, started if need be; if PostgreSQL is not installed, a skip on
   * a developer's machine, a failure under {@code CI=true}.
   */
  public static PostgresEngine postgres() {
    return MissingEnginePolicy.fromEnvironment().require(PostgresEngine::shared);
  }

  /**
   * The shared Redis server, started if need be; if Redis is not installed, a skip on a
   * developer's machine, a failure under {@code CI=true}.
   */
  public static RedisEngine redis() {
    return MissingEnginePolicy.fromEnvironment().require(RedisEngine::shared);
  }

  /**
   * Skips the class (or method) when an engine it requires is not installed and this is not CI.
   * A skip decided here is reported as skipped, with the reason; one decided in
   * {@code beforeAll} (an aborted class) would vanish from Surefire's counts.
   */
  @Override
  public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
    MissingEnginePolicy policy = MissingEnginePolicy.fromEnvironment();
    if (policy.decide() == MissingEnginePolicy.Decision.SKIP && context.getElement().isPresent()) {
      AnnotatedElement element = context.getElement().get();
      try {
        if (AnnotationSupport.isAnnotated(element, RequiresPostgres.class)) {
          PostgresEngine.shared();
        }
        if (AnnotationSupport.isAnnotated(element, RequiresRedis.class)) {
          RedisEngine.shared();
        }
      } catch (EngineUnavailableException missing) {
        return ConditionEvaluationResult.disabled(policy.onMissing(missing).getMessage());
      } catch (RuntimeException startFailure) {
        // installed but broken: not a reason to skip; beforeAll/beforeEach fail with it
      }
    }
    return ConditionEvaluationResult.enabled("engines available, or CI=true");
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    requireEnginesOf(context.getRequiredTestClass());
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    context.getTestMethod().ifPresent(EngineExtension::requireEnginesOf);
  }

  private static void requireEnginesOf(AnnotatedElement element) {
    if (AnnotationSupport.isAnnotated(element, RequiresPostgres.class)) {
      postgres();
    }
    if (AnnotationSupport.isAnnotated(element, RequiresRedis.class)) {
      redis();
    }
  }

  @Override
  public void afterAll(ExtensionContext context) {
    // A class that stopped a shared engine and did not start it again leaves it running for the
    // next class; its own tests already saw whatever they saw.
    Optional<PostgresEngine> pg = PostgresEngine.sharedIfStarted();
    if (pg.isPresent() && !pg.get().isRunning()) {
      pg.get().start();
    }
    Optional<RedisEngine> redis = RedisEngine.sharedIfStarted();
    if (redis.isPresent() && !redis.get().isRunning()) {
      redis.get().start();
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == PostgresEngine.class || type == RedisEngine.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    // With the annotation the engine has started (or the test was skipped) before any parameter
    // is resolved; without it a missing engine fails the test here rather than skipping it.
    return parameter.getParameter().getType() == PostgresEngine.class ? postgres() : redis();
  }
}
