package io.quarry.worker.trainer.stub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.math.BigInteger;
import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StubEpochOrderTest {
  @Test
  void isAPermutationOfTheShardForAnySize() {
    for (long n : new long[] {1, 2, 3, 7, 32, 33, 64, 97, 1000, 1024, 4096, 9973}) {
      for (int epoch = 0; epoch < 3; epoch++) {
        EpochOrder order = new EpochOrder(42, 1, epoch, n);
        long[] out = new long[(int) n];
        order.fill(0, (int) n, out, 0);
        BitSet seen = new BitSet();
        for (int i = 0; i < n; i++) {
          assertFalse(seen.get((int) out[i]), "n=" + n + " repeats " + out[i]);
          seen.set((int) out[i]);
          assertEquals(out[i], order.at(i));
        }
        assertEquals(n, seen.cardinality());
      }
    }
  }

  @Test
  void fillFromAnyPositionMatchesPointLookupsWithTheShardOffset() {
    EpochOrder order = new EpochOrder(7, 0, 2, 1000);
    long[] out = new long[32];
    order.fill(992, 8, out, 5000);
    for (int i = 0; i < 8; i++) assertEquals(5000 + order.at(992 + i), out[i]);
  }

  @Test
  void orderDependsOnSeedShardAndEpoch() {
    long[] base = new long[16];
    new EpochOrder(42, 0, 0, 1000).fill(0, 16, base, 0);
    long[] other = new long[16];
    new EpochOrder(43, 0, 0, 1000).fill(0, 16, other, 0);
    assertNotEquals(java.util.Arrays.toString(base), java.util.Arrays.toString(other));
    new EpochOrder(42, 1, 0, 1000).fill(0, 16, other, 0);
    assertNotEquals(java.util.Arrays.toString(base), java.util.Arrays.toString(other));
    new EpochOrder(42, 0, 1, 1000).fill(0, 16, other, 0);
    assertNotEquals(java.util.Arrays.toString(base), java.util.Arrays.toString(other));
  }

  @Test
  void mulModMatchesBigIntegerForLargeOperands() {
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < 10_000; i++) {
      long m = 1 + random.nextLong(1L << 62);
      long x = random.nextLong(m);
      long y = random.nextLong(m);
      long expected = BigInteger.valueOf(x).multiply(BigInteger.valueOf(y)).mod(BigInteger.valueOf(m)).longValueExact();
      assertEquals(expected, EpochOrder.mulMod(x, y, m), x + " * " + y + " mod " + m);
    }
  }
}
