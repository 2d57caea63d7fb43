// SPDX-License-Identifier: Apache-2.0
//
// Baseline for bench/serve: a minimal C++ gRPC server on Debian's libgrpc++
// (the stack TF Serving uses) that decodes each PredictRequest and returns
// a fixed PredictResponse with no inference, over TLS with the same
// certificate as ccserve.  usage: baseline_grpc PORT CERT_PEM KEY_PEM THREADS
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "bench_prediction_service.grpc.pb.h"

namespace {

std::string slurp(const char *path)
{
	std::ifstream f(path, std::ios::binary);
	std::stringstream s;
	s << f.rdbuf();
	return s.str();
}

class Service final : public tensorflow::serving::PredictionService::Service {
public:
	Service()
	{
		auto &y = (*fixed_.mutable_outputs())["y"];
		y.set_dtype(tensorflow::DT_FLOAT);
		y.mutable_tensor_shape()->add_dim()->set_size(1);
		y.mutable_tensor_shape()->add_dim()->set_size(1);
		float v = 2.5f;
		y.set_tensor_content(std::string(reinterpret_cast<char *>(&v), 4));
		fixed_.mutable_model_spec()->set_name("half_plus_two");
		fixed_.mutable_model_spec()->mutable_version()->set_value(123);
		fixed_.mutable_model_spec()->set_signature_name("serving_default");
	}

	grpc::Status Predict(grpc::ServerContext *, const tensorflow::serving::PredictRequest *req,
			     tensorflow::serving::PredictResponse *resp) override
	{
		if (req->inputs().find("x") == req->inputs().end())
			return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no input x");
		*resp = fixed_;
		return grpc::Status::OK;
	}

private:
	tensorflow::serving::PredictResponse fixed_;
};

} // namespace

int main(int argc, char **argv)
{
	if (argc != 5) {
		std::cerr << "usage: baseline_grpc PORT CERT_PEM KEY_PEM THREADS\n";
		return 2;
	}
	grpc::SslServerCredentialsOptions ssl;
	ssl.pem_key_cert_pairs.push_back({ slurp(argv[3]), slurp(argv[2]) });
	Service svc;
	grpc::ServerBuilder b;
	b.AddListeningPort(std::string("127.0.0.1:") + argv[1], grpc::SslServerCredentials(ssl));
	// THREADS > 0 caps the sync server's threads; 0 keeps gRPC's default
	// (what TF Serving runs with unless --grpc_max_threads is given).
	grpc::ResourceQuota q;
	if (std::atoi(argv[4]) > 0) {
		q.SetMaxThreads(std::atoi(argv[4]));
		b.SetResourceQuota(q);
	}
	b.RegisterService(&svc);
	std::unique_ptr<grpc::Server> s = b.BuildAndStart();
	if (!s)
		return 1;
	std::cout << "baseline listening" << std::endl;
	s->Wait();
	return 0;
}
