// azd entry point: one resource group holding the function app, Web PubSub and what they need.
// Identity-based throughout: no keys, no connection strings, no secrets in settings or outputs.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name and tag resources.')
param environmentName string

@minLength(1)
@description('Azure region for every resource; only regions that offer Flex Consumption, as listed by the Flex Consumption azd quickstart.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the developer running azd; gets Web PubSub Service Owner for local runs. Optional.')
param principalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
@description('Kind of principal principalId is (azd sets AZURE_PRINCIPAL_TYPE): ServicePrincipal when CI deploys.')
param principalType string = 'User'

@allowed(['Free_F1', 'Standard_S1', 'Premium_P1'])
@description('Web PubSub SKU.')
param webPubSubSku string = 'Free_F1'

@description('Default hub (WebPubSubHub); the template gives it the events function as its event handler.')
param hubName string = 'pubsub'

@description('Send group presence events (joined, left) to the events function. Needs the preview API version 2025-08-01-preview of Microsoft.SignalRService/webPubSub/hubs; off by default.')
param groupPresenceEvents bool = false

@description('Audience of the token Web PubSub sends to the events function (EventsIdentityAudience): an Entra application ID or App ID URI; empty: the function app identity\'s client id.')
param eventHandlerAudience string = ''

@description('User events the events function puts on the queue (EventsQueueEvents): comma list, trailing * for a prefix; empty: none.')
param eventsToQueue string = ''

@description('Groups whose joins and leaves the events function publishes to them (EventsPresenceGroups); needs groupPresenceEvents. Empty: none.')
param presenceGroups string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    principalId: principalId
    principalType: principalType
    webPubSubSku: webPubSubSku
    hubName: hubName
    groupPresenceEvents: groupPresenceEvents
    eventHandlerAudience: eventHandlerAudience
    eventsToQueue: eventsToQueue
    presenceGroups: presenceGroups
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output NEGOTIATE_URL string = resources.outputs.negotiateUrl
output PUBLISH_URL string = resources.outputs.publishUrl
output ACTIONS_URL string = resources.outputs.actionsUrl
output EVENTS_URL string = resources.outputs.eventsUrl
output WEBPUBSUB_ENDPOINT string = resources.outputs.webPubSubEndpoint
output WEBPUBSUB_HUB string = hubName
