from __future__ import annotations

from applykit import change


def test_smoke(invoke, ecs_seed, localcloud):
    sg = ecs_seed.group()
    rule = ecs_seed.egress(sg, port_range="80/80", dest_cidr_ip="10.0.0.0/8")
    out = invoke([change({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "SecurityGroupRuleId": rule,
                          "PortRange": "8080/8080"})])
    print(out)
    assert out[0]["data"]["status"] == "applied"
