// Real Kubernetes, Istio and Gateway API schemas (kubernetes-models, @kubernetes-models/istio, @kubernetes-models/gateway-api)
// for the objects the program renders, keyed by kind.
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { Gateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { Gateway as GatewayApiGateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import type { ProgramRun } from "./pulumiProgram";

// (typed loosely: node10 resolution cannot see the models' ESM-only base types)
const MODELS: Record<string, new (data: any) => any> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "apps/v1/Deployment": Deployment,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "networking.istio.io/v1/Gateway": Gateway,
  "networking.istio.io/v1/DestinationRule": DestinationRule,
  "networking.istio.io/v1/VirtualService": VirtualService,
  "gateway.networking.k8s.io/v1/Gateway": GatewayApiGateway,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
};

/** Validates one object (apiVersion, kind, metadata, spec/data); false when no schema is known. */
export function validateObject(object: Record<string, any>): boolean {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return false;
  const { apiVersion, kind, metadata, spec, data } = object;
  const model = new Model({ apiVersion, kind, metadata, ...(spec ? { spec } : {}), ...(data ? { data } : {}) });
  model.validate(); // throws, naming the failing path
  return true;
}

/** Validates every object the program registered; returns how many had a schema. */
export function validateAll(run: ProgramRun): number {
  let validated = 0;
  for (const resource of run.resources) {
    // Objects read from the cluster (Service.get) carry no metadata input: not ours.
    if (resource.inputs.metadata === undefined) continue;
    if (validateObject(resource.inputs)) validated++;
  }
  return validated;
}
