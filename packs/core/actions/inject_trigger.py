"""core.inject_trigger: fires a trigger instance through the node (the datastore channel's
dispatch), which checks the trigger type and its payload_schema and publishes the instance on
gale.triggers as the API's webhooks do."""

from st2common.runners.base_action import Action


class InjectTriggerAction(Action):
    def run(self, trigger, payload=None, trace_tag=None):
        payload = payload or {}
        self.logger.debug("injecting trigger %s with payload %s", trigger, payload)
        # {"id", "trigger", "trace_id"} of the instance; a refusal raises with the node's reason.
        return self.action_service.datastore_service.dispatch(trigger, payload, trace_tag)
