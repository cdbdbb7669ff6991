"""Run every benchmark and print its figures (medians, ratios to a baseline measured in the same run)."""
import bench_data
import bench_follow
import bench_k8s
import bench_listing
import bench_load_ext
import bench_local_job
import bench_panel
import bench_pipeline
import bench_server
import bench_serving
import bench_streams
import bench_transport
import bench_tuning

if __name__ == "__main__":
    for bench in (
        bench_load_ext,
        bench_local_job,
        bench_transport,
        bench_listing,
        bench_k8s,
        bench_follow,
        bench_pipeline,
        bench_serving,
        bench_server,
        bench_panel,
        bench_streams,
        bench_tuning,
        bench_data,
    ):
        bench.main()
