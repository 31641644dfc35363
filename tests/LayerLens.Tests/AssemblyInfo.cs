using Xunit;

// Test classes run one after another. libtorch state is process-wide (intra-op thread count, allocator arenas),
// several tests compare runs bit for bit, and on a 2-core CI machine parallel classes only compete for the cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
