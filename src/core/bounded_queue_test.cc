#include "edgeway/core/bounded_queue.h"

#include <thread>

#include "gtest/gtest.h"

namespace edgeway {
namespace {

using std::chrono::milliseconds;

TEST(BoundedQueueTest, DropPolicyRefusesWhenFull) {
  BoundedQueue<int> queue(2);
  EXPECT_TRUE(queue.Push(1, OverflowPolicy::kDrop));
  EXPECT_TRUE(queue.Push(2, OverflowPolicy::kDrop));
  EXPECT_FALSE(queue.Push(3, OverflowPolicy::kDrop));
  std::vector<int> out;
  ASSERT_TRUE(queue.PopBatch(&out, 10, milliseconds(0)));
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
}

TEST(BoundedQueueTest, BlockPolicyWaitsForRoom) {
  BoundedQueue<int> queue(1);
  ASSERT_TRUE(queue.Push(1, OverflowPolicy::kBlock));
  std::thread producer([&] { EXPECT_TRUE(queue.Push(2, OverflowPolicy::kBlock)); });
  std::vector<int> out;
  while (out.size() < 2) {
    ASSERT_TRUE(queue.PopBatch(&out, 1, milliseconds(1000)));
  }
  producer.join();
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
}

TEST(BoundedQueueTest, CloseDrainsThenStops) {
  BoundedQueue<int> queue(4);
  queue.Push(7, OverflowPolicy::kBlock);
  queue.Close();
  EXPECT_FALSE(queue.Push(8, OverflowPolicy::kBlock));
  std::vector<int> out;
  EXPECT_TRUE(queue.PopBatch(&out, 10, milliseconds(0)));
  EXPECT_EQ(out, std::vector<int>{7});
  EXPECT_FALSE(queue.PopBatch(&out, 10, milliseconds(0)));
}

TEST(BoundedQueueTest, PopBatchRespectsMaximum) {
  BoundedQueue<int> queue(10);
  for (int i = 0; i < 5; ++i) queue.Push(i, OverflowPolicy::kBlock);
  std::vector<int> out;
  queue.PopBatch(&out, 3, milliseconds(0));
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(queue.size(), 2u);
}

}  // namespace
}  // namespace edgeway
